//! The chunk cache.
