//! Fuzzes `settings::Config::parse`: any text gives a config or an error naming the file with a line and column
//! inside the text, never a panic.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use settings::{Config, ConfigError};

/// A directory that does not exist, so `[sources]` paths resolve to nothing and no real file is read.
const FILE: &str = "/nonexistent-tweakgate-fuzz/tweakgate.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new(FILE)) {
        Ok(config) => {
            assert_eq!(config.file, Path::new(FILE));
            assert!(
                config.server.state_dir.is_absolute(),
                "relative paths resolve against the file"
            );
            for p in &config.plugins {
                assert!(p.path.is_absolute());
            }
        }
        Err(ConfigError::Invalid { file, line, column, .. }) => {
            assert_eq!(file, FILE);
            let lines = text.split('\n').count();
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
            assert!(column >= 1, "column {column}");
        }
        Err(ConfigError::Io { path, message }) => {
            assert!(path.starts_with('/'), "{path}: {message}");
        }
        Err(ConfigError::Native(e)) => {
            assert!(e.line >= 1, "{e}");
        }
    }
});
