//! Citizens' messages (SPEC "Citizens' messages"): what a citizen is told
//! when an appeal or a case moves, in the inbox (`GET /api/v1/me/messages`)
//! and, for channels that set `notify_url`, as signed webhooks.
//!
//! The store writes each event (inbox row and outbox row) in the same
//! transaction as the change that causes it; this crate holds the pure
//! parts — [`text`] (the messages' texts, Chinese first, masked),
//! [`signature`] (`x-onestop-signature`), [`backoff`] (the retry schedule)
//! — and the [`worker`] that delivers the outbox under a store lease.

pub mod api;
pub mod backoff;
mod events;
pub mod signature;
pub mod text;
pub mod worker;

pub use backoff::Backoff;
pub use worker::{Hook, Worker};

/// What can go wrong delivering messages.
#[derive(Debug, thiserror::Error)]
pub enum MessagesError {
    /// The store could not be reached or refused the call.
    #[error("store: {0}")]
    Store(#[from] onestop_store::StoreError),
}
