//! Decoded `FileDescriptorSet`s.

use prost_reflect::DescriptorPool;

/// A decoded `FileDescriptorSet`, as sent by a department or named in config.
///
/// The set must be self-contained: build it with
/// `protoc --include_imports --descriptor_set_out=...` so that every import
/// (well-known types, `google/api/annotations.proto`, ...) is in it.
#[derive(Debug, Clone)]
pub struct Descriptors {
    pool: DescriptorPool,
}

/// A descriptor set that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// Not a `FileDescriptorSet`, or an inconsistent one (e.g. an import is
    /// missing because it was built without `--include_imports`).
    #[error("invalid descriptor set: {0}")]
    Invalid(#[source] prost_reflect::DescriptorError),
}

impl Descriptors {
    /// Decodes and validates an encoded `FileDescriptorSet`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DescriptorError> {
        DescriptorPool::decode(bytes)
            .map(Self::from_pool)
            .map_err(DescriptorError::Invalid)
    }

    /// Wraps an already built pool.
    pub fn from_pool(pool: DescriptorPool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// Fully qualified names of the services in the set (`package.Service`),
    /// imports included, in file order.
    pub fn services(&self) -> impl Iterator<Item = String> + '_ {
        self.pool.services().map(|s| s.full_name().to_owned())
    }
}
