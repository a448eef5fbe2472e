//! seccomp profiles in Docker's JSON format (what `--security-opt seccomp=FILE` takes), read
//! with Docker's rules (`docker_semantics`) and compiled as runc compiles them: libseccomp, the
//! same rule translation, and runc's -ENOSYS stub in front (`enosys`).

mod compile;
mod docker_semantics;
mod enosys;
#[cfg(test)]
mod tests;

use anyhow::{Result, anyhow};
use serde::Deserialize;

pub use compile::compile;
pub use docker_semantics::Node;

/// Where Debian's `golang-github-docker-docker-dev` puts moby's own default profile (20.10.24
/// on bookworm, the version of its docker.io).
pub const DOCKER_DEFAULT_PATH: &str =
    "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json";
pub const DOCKER_DEFAULT_PACKAGE: &str = "golang-github-docker-docker-dev";

/// Docker's default profile, as Docker ships it.
pub fn docker_default() -> Result<String> {
    std::fs::read_to_string(DOCKER_DEFAULT_PATH).map_err(|e| {
        anyhow!(
            "Docker's default seccomp profile is not at {DOCKER_DEFAULT_PATH} ({e}): install it \
             with `cargo xtask setup` or `apt-get install {DOCKER_DEFAULT_PACKAGE}`, or pass your \
             Docker's with --profile FILE"
        )
    })
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    /// Honoured as newer Docker and runc do; Docker 20.10's parser drops it (EPERM then).
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// The old format: the architectures, verbatim.
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// The new format: the native architecture's entry brings its sub-architectures.
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    pub syscalls: Option<Vec<Rule>>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// The old format: one name per rule.
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    #[serde(default)]
    pub includes: Option<Conditions>,
    #[serde(default)]
    pub excludes: Option<Conditions>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    /// "<kernel>.<major>", e.g. "4.8".
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// Parses a profile; serde's message names the field and the line.
pub fn parse(text: &str, origin: &str) -> Result<Profile> {
    // What the user gave (exit 2), unless Docker's own default is broken on this node.
    serde_json::from_str(text)
        .map_err(|e| crate::out::Usage(format!("{origin}: invalid seccomp profile: {e}")).into())
}
