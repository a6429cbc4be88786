//! The built-in WHM operations, one file per area; each is registered once in [`crate::whm::OPERATIONS`].

pub mod accounts;
pub mod cluster;
pub mod info;
pub mod keys;
pub mod privileges;
pub mod sessions;
pub mod tokens;
pub mod tweaks;
