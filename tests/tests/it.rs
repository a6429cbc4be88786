//! Integration tests: one binary for the whole workspace.
