//! The annotations of an OCI runtime bundle's `config.json`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::Deserialize;

/// Specs are a few kB; the bound keeps a corrupt or hostile file from costing memory.
const MAX_SPEC: u64 = 4 << 20;

#[derive(Deserialize)]
struct Spec {
    #[serde(default)]
    annotations: Option<HashMap<String, String>>,
}

/// The spec's annotations (empty when it has none); Err when the file is absent or unreadable.
pub fn annotations(config_json: &Path) -> io::Result<HashMap<String, String>> {
    let mut text = Vec::new();
    File::open(config_json)?
        .take(MAX_SPEC)
        .read_to_end(&mut text)?;
    parse(&text)
}

pub fn parse(text: &[u8]) -> io::Result<HashMap<String, String>> {
    let spec: Spec = serde_json::from_slice(text).map_err(io::Error::other)?;
    Ok(spec.annotations.unwrap_or_default())
}
