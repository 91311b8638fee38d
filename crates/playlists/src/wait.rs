//! Waiting.
