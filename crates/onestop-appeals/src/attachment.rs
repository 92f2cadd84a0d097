//! Attachments of appeals (photos, documents): the size and type check and
//! the content hash that names them.
//!
//! The type is decided by the content's magic bytes ([`sniff`]), never by
//! the client's `Content-Type` alone: a declared type must agree with the
//! content, and the content's type must be one `[appeals]
//! attachment_types` allows. An attachment is named by the SHA-256 of its
//! bytes (`sha256:<64 lowercase hex>`), so the same content is one
//! attachment however often it is uploaded.

use sha2::{Digest, Sha256};

use crate::InputLimits;

/// The types [`sniff`] recognises, with their magic bytes.
const MAGIC: &[(&[u8], &str)] = &[
    (&[0xFF, 0xD8, 0xFF], "image/jpeg"),
    (
        &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
        "image/png",
    ),
    (b"%PDF-", "application/pdf"),
];

/// The media type `content` is, by its first bytes (JPEG, PNG, PDF);
/// `None` for anything else.
pub fn sniff(content: &[u8]) -> Option<&'static str> {
    MAGIC
        .iter()
        .find(|(magic, _)| content.starts_with(magic))
        .map(|(_, t)| *t)
}

/// `sha256:<64 lowercase hex>` of `content`.
pub fn content_hash(content: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(content)))
}

/// Whether `id` has the shape of a [`content_hash`].
pub fn is_content_hash(id: &str) -> bool {
    id.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Why an attachment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    /// Over `max_attachment_bytes` (413).
    #[error("the attachment is {size} bytes, at most {max}")]
    TooLarge { size: u64, max: u64 },
    /// Empty (400).
    #[error("the attachment is empty")]
    Empty,
    /// A type not allowed, not recognised, or not what the content is
    /// (415, naming `Content-Type`).
    #[error("{0}")]
    Type(String),
}

/// An attachment that passed: its hash and its media type (the sniffed one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedAttachment {
    pub hash: String,
    pub media_type: String,
}

/// Checks an attachment's size and type. `declared` is the client's
/// `Content-Type` (parameters ignored; `application/octet-stream` or none:
/// the content decides alone).
pub fn check_attachment(
    declared: Option<&str>,
    content: &[u8],
    limits: &InputLimits,
) -> Result<CheckedAttachment, AttachmentError> {
    let size = content.len() as u64;
    if size > limits.max_attachment_bytes {
        return Err(AttachmentError::TooLarge {
            size,
            max: limits.max_attachment_bytes,
        });
    }
    if content.is_empty() {
        return Err(AttachmentError::Empty);
    }
    let allowed = limits.attachment_types.join(", ");
    let declared = declared
        .map(|d| {
            d.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|d| !d.is_empty() && d != "application/octet-stream");
    if let Some(d) = &declared
        && !limits
            .attachment_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(d))
    {
        return Err(AttachmentError::Type(format!(
            "`{d}` is not taken (one of {allowed})"
        )));
    }
    let Some(sniffed) = sniff(content) else {
        return Err(AttachmentError::Type(format!(
            "the content is none of the recognised types (one of {allowed})"
        )));
    };
    if let Some(d) = &declared
        && d != sniffed
    {
        return Err(AttachmentError::Type(format!(
            "declared `{d}` but the content is {sniffed}"
        )));
    }
    if !limits
        .attachment_types
        .iter()
        .any(|t| t.eq_ignore_ascii_case(sniffed))
    {
        return Err(AttachmentError::Type(format!(
            "the content is {sniffed}, which is not taken (one of {allowed})"
        )));
    }
    Ok(CheckedAttachment {
        hash: content_hash(content),
        media_type: sniffed.to_owned(),
    })
}

#[cfg(test)]
mod tests;
