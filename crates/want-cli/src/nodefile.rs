//! The node configuration file (`nodeK.toml`) and the genesis file, as `want init` writes them and
//! `want node` / `want cluster up` read them, and a cluster member's node key.
//!
//! ```toml
//! genesis_file = "genesis.json"   # relative paths are resolved against this file's directory
//! [node]                          # a want_node::NodeConfig
//! data_dir = "node1/data"
//! http_addr = "127.0.0.1:8545"
//! [node.cluster]
//! node_id = 1
//! member_addr = "127.0.0.1:8548"                # optional: the member listener
//! advertise_url = "http://127.0.0.1:8548"       # where members reach it (https://: over TLS)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use want_crypto::NodeKey;
use want_node::kernel::node::NODE_KEY_FILE;
use want_node::{Genesis, NodeConfig};

use crate::output::CliError;

/// Largest configuration file read.
const CONFIG_BYTES_MAX: u64 = 1 << 20;
/// Largest genesis file read (allocations may be many).
pub const GENESIS_BYTES_MAX: u64 = 64 << 20;

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    genesis_file: PathBuf,
    node: NodeConfig,
}

/// A configuration file read and checked, its relative paths resolved.
pub struct LoadedConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The genesis file (resolved).
    pub genesis_file: PathBuf,
    /// The node configuration, `data_dir` resolved.
    pub node: NodeConfig,
}

impl LoadedConfig {
    /// The URL of this node's public API: its advertised URL in a cluster without a member
    /// listener; with one, the advertised URL on the `http_addr` port over `http://` (the
    /// advertised host is how clients reach a node listening on every interface); else its
    /// HTTP address.
    pub fn url(&self) -> String {
        let own = || format!("http://{}", self.node.http_addr);
        match &self.node.cluster {
            Some(c) if c.member_addr.is_none() => c.advertise_url.trim_end_matches('/').to_string(),
            Some(c) => {
                let mut u = match reqwest::Url::parse(&c.advertise_url) {
                    Ok(u) => u,
                    Err(_) => return own(),
                };
                // The public API is plain HTTP even when the members speak TLS (`https://`
                // member listener); a TLS proxy in front of it has its own URL.
                if u.set_scheme("http").is_err() {
                    return own();
                }
                match u.set_port(Some(self.node.http_addr.port())) {
                    Ok(()) => u.as_str().trim_end_matches('/').to_string(),
                    Err(()) => own(),
                }
            }
            None => own(),
        }
    }

    /// Where the other members reach this node (its advertised URL), in a cluster.
    pub fn member_url(&self) -> Option<String> {
        self.node
            .cluster
            .as_ref()
            .map(|c| c.advertise_url.trim_end_matches('/').to_string())
    }
}

fn invalid_config(message: String) -> anyhow::Error {
    CliError::new("invalid_config", message).into()
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Reads and checks a node configuration file. Errors name the file and the field.
pub fn load_config(path: &Path) -> anyhow::Result<LoadedConfig> {
    let text = crate::read_text_file(path, CONFIG_BYTES_MAX)?;
    let file: NodeFile =
        serde_path_to_error::deserialize(toml::Deserializer::new(&text)).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let at = inner
                .span()
                .map(|s| {
                    let (l, c) = line_col(&text, s.start);
                    format!(" (line {l}, column {c})")
                })
                .unwrap_or_default();
            let what = inner.message().trim().to_string();
            if field.is_empty() || field == "." {
                invalid_config(format!("{}: {what}{at}", path.display()))
            } else {
                invalid_config(format!("{}: {field}: {what}{at}", path.display()))
            }
        })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut node = file.node;
    node.data_dir = base.join(&node.data_dir);
    node.validate()
        .map_err(|e| invalid_config(format!("{}: node.{e}", path.display())))?;
    if let Some(c) = &node.cluster {
        if !(c.advertise_url.starts_with("http://") || c.advertise_url.starts_with("https://")) {
            return Err(invalid_config(format!(
                "{}: node.cluster.advertise_url {:?} must start with http:// or https://",
                path.display(),
                c.advertise_url
            )));
        }
        if c.node_id == 0 {
            return Err(invalid_config(format!(
                "{}: node.cluster.node_id must be at least 1",
                path.display()
            )));
        }
    }
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        genesis_file: base.join(&file.genesis_file),
        node,
    })
}

/// Reads a genesis file and checks its membership.
pub fn load_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let invalid = |m: String| -> anyhow::Error { CliError::new("invalid_genesis", m).into() };
    let text = crate::read_text_file(path, GENESIS_BYTES_MAX)?;
    let genesis: Genesis = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_str(&text),
    )
    .map_err(|e| {
        let field = e.path().to_string();
        if field.is_empty() || field == "." {
            invalid(format!("{}: {}", path.display(), e.inner()))
        } else {
            invalid(format!("{}: {field}: {}", path.display(), e.inner()))
        }
    })?;
    genesis
        .validate_members()
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    Ok(genesis)
}

/// Checks that a configuration and its genesis belong together: a cluster genesis needs a
/// `[node.cluster]` section and the other way round.
pub fn check_config_matches_genesis(cfg: &LoadedConfig, genesis: &Genesis) -> anyhow::Result<()> {
    match (&cfg.node.cluster, genesis.members.is_empty()) {
        (None, false) => Err(invalid_config(format!(
            "{}: the genesis {} names cluster members but node.cluster is missing; add a [node.cluster] section with node_id and advertise_url",
            cfg.path.display(),
            cfg.genesis_file.display()
        ))),
        (Some(_), true) => Err(invalid_config(format!(
            "{}: node.cluster is set but the genesis {} has no members; a cluster needs a genesis written by `want init`",
            cfg.path.display(),
            cfg.genesis_file.display()
        ))),
        _ => Ok(()),
    }
}

/// Loads a cluster member's node key from its data directory. Never creates one: a new key would
/// not be the one the genesis (or the other members) know.
pub fn load_member_key(data_dir: &Path) -> anyhow::Result<NodeKey> {
    let path = data_dir.join(NODE_KEY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::new(
                "node_key_missing",
                format!(
                    "node key {} does not exist; a cluster member's key is written by `want init` and must be copied with its data directory (a new key would not match the genesis)",
                    path.display()
                ),
            )
            .into())
        }
        Err(e) => {
            return Err(CliError::new(
                "node_key_unreadable",
                format!("cannot read node key {}: {e}", path.display()),
            )
            .into())
        }
    };
    NodeKey::from_hex(text.trim()).map_err(|e| {
        CliError::new(
            "node_key_invalid",
            format!("node key {} is not valid: {e}", path.display()),
        )
        .into()
    })
}

/// Checks that a member's key is the one its genesis entry names (when the genesis names it).
pub fn check_member_key(
    cfg: &LoadedConfig,
    genesis: &Genesis,
    key: &NodeKey,
) -> anyhow::Result<()> {
    let Some(cluster) = &cfg.node.cluster else {
        return Ok(());
    };
    let Some(member) = genesis.members.iter().find(|m| m.id == cluster.node_id) else {
        return Ok(());
    };
    if cfg.node.data_dir.join(want_storage::DB_FILE_NAME).exists() {
        // A running chain may have replaced this member's key (`want cluster set-key`): the
        // node checks its key against the membership it last applied when it starts.
        return Ok(());
    }
    let ours = hex::encode(key.public_key());
    if !member.public_key.eq_ignore_ascii_case(&ours) {
        return Err(CliError::new(
            "node_key_mismatch",
            format!(
                "node key {} has public key {ours}, but member {} of the genesis {} has {}; this data directory belongs to another node",
                cfg.node.data_dir.join(NODE_KEY_FILE).display(),
                member.id,
                cfg.genesis_file.display(),
                member.public_key
            ),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn relative_paths_are_resolved_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "n.toml",
            "genesis_file = \"genesis.json\"\n[node]\ndata_dir = \"node1/data\"\nhttp_addr = \"127.0.0.1:9000\"\n[node.cluster]\nnode_id = 1\nadvertise_url = \"http://127.0.0.1:9000\"\n",
        );
        let cfg = load_config(&p).unwrap();
        assert_eq!(cfg.genesis_file, dir.path().join("genesis.json"));
        assert_eq!(cfg.node.data_dir, dir.path().join("node1/data"));
        assert_eq!(cfg.node.cluster.as_ref().map(|c| c.node_id), Some(1));
        assert_eq!(cfg.url(), "http://127.0.0.1:9000");
    }

    #[test]
    fn absolute_paths_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "genesis_file = {:?}\n[node]\ndata_dir = {:?}\nhttp_addr = \"127.0.0.1:9000\"\n",
            "/srv/want/genesis.json", "/srv/want/data"
        );
        let cfg = load_config(&write(dir.path(), "n.toml", &text)).unwrap();
        assert_eq!(cfg.genesis_file, PathBuf::from("/srv/want/genesis.json"));
        assert_eq!(cfg.node.data_dir, PathBuf::from("/srv/want/data"));
    }

    fn message(r: anyhow::Result<LoadedConfig>) -> (String, String) {
        let e = CliError::from_anyhow(r.err().expect("must fail"));
        (e.code, e.message)
    }

    #[test]
    fn a_bad_value_is_reported_with_file_field_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "bad.toml",
            "genesis_file = \"g.json\"\n[node]\ndata_dir = \"d\"\nhttp_addr = \"not an address\"\n",
        );
        let (code, m) = message(load_config(&p));
        assert_eq!(code, "invalid_config");
        assert!(m.contains("bad.toml"), "{m}");
        assert!(m.contains("node.http_addr"), "{m}");
        assert!(m.contains("line 4"), "{m}");
    }

    #[test]
    fn an_unknown_or_missing_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "a.toml",
            "genesis_file = \"g.json\"\n[node]\ndata_dir = \"d\"\nhttp_addr = \"127.0.0.1:1\"\nblock_intervall_ms = 5\n",
        );
        let (_, m) = message(load_config(&p));
        assert!(m.contains("block_intervall_ms"), "{m}");
        let p = write(
            dir.path(),
            "b.toml",
            "genesis_file = \"g.json\"\n[node]\ndata_dir = \"d\"\n",
        );
        let (_, m) = message(load_config(&p));
        assert!(m.contains("http_addr"), "{m}");
    }

    #[test]
    fn out_of_range_tunables_and_bad_cluster_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "a.toml",
            "genesis_file = \"g.json\"\n[node]\ndata_dir = \"d\"\nhttp_addr = \"127.0.0.1:1\"\nblock_interval_ms = 0\n",
        );
        let (_, m) = message(load_config(&p));
        assert!(m.contains("node.block_interval_ms"), "{m}");
        let p = write(
            dir.path(),
            "b.toml",
            "genesis_file = \"g.json\"\n[node]\ndata_dir = \"d\"\nhttp_addr = \"127.0.0.1:1\"\n[node.cluster]\nnode_id = 1\nadvertise_url = \"127.0.0.1:1\"\n",
        );
        let (_, m) = message(load_config(&p));
        assert!(m.contains("node.cluster.advertise_url"), "{m}");
    }

    #[test]
    fn a_toml_syntax_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "s.toml", "genesis_file = \"g.json\"\n[node\n");
        let (code, m) = message(load_config(&p));
        assert_eq!(code, "invalid_config");
        assert!(m.contains("s.toml") && m.contains("line 2"), "{m}");
    }

    #[test]
    fn a_missing_member_key_is_an_error_and_none_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let e = CliError::from_anyhow(load_member_key(dir.path()).expect_err("must fail"));
        assert_eq!(e.code, "node_key_missing");
        assert!(!dir.path().join(NODE_KEY_FILE).exists());
    }

    mod props {
        use super::*;
        use crate::fuzz_inputs::{mutated, nasty_char};
        use proptest::prelude::*;

        #[derive(serde::Serialize)]
        struct Written<'a> {
            genesis_file: &'a str,
            node: &'a NodeConfig,
        }

        fn valid_config() -> impl Strategy<Value = String> {
            (any::<u16>(), any::<bool>(), 1u64..100).prop_map(|(port, cluster, id)| {
                let mut node =
                    NodeConfig::dev("node1/data".into(), ([127, 0, 0, 1], port.max(1)).into());
                if cluster {
                    let text =
                        format!("node_id = {id}\nadvertise_url = \"http://127.0.0.1:{port}\"\n");
                    node.cluster = Some(toml::from_str(&text).unwrap());
                }
                toml::to_string(&Written {
                    genesis_file: "genesis.json",
                    node: &node,
                })
                .unwrap()
            })
        }

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                prop::collection::vec(nasty_char(), 0..80).prop_map(|v| v.into_iter().collect()),
            ]
        }

        /// A configuration text loads, or is refused as invalid_config naming the file.
        fn check_config(text: &str) -> Result<(), TestCaseError> {
            let dir = tempfile::tempdir().unwrap();
            let p = write(dir.path(), "n.toml", text);
            match load_config(&p) {
                Ok(cfg) => {
                    prop_assert!(cfg.node.validate().is_ok());
                    prop_assert!(cfg.node.data_dir.starts_with(dir.path()));
                }
                Err(e) => {
                    let e = CliError::from_anyhow(e);
                    prop_assert_eq!(&e.code, "invalid_config", "{}", e.message);
                    let named = format!("{}: ", p.display());
                    prop_assert!(e.message.starts_with(&named), "{}", e.message);
                    prop_assert!(e.message.len() > named.len(), "{}", e.message);
                }
            }
            Ok(())
        }

        fn check_genesis(text: &str) -> Result<Option<Genesis>, TestCaseError> {
            let dir = tempfile::tempdir().unwrap();
            let p = write(dir.path(), "genesis.json", text);
            match load_genesis(&p) {
                Ok(g) => Ok(Some(g)),
                Err(e) => {
                    let e = CliError::from_anyhow(e);
                    prop_assert_eq!(&e.code, "invalid_genesis", "{}", e.message);
                    prop_assert!(
                        e.message.starts_with(&format!("{}: ", p.display())),
                        "{}",
                        e.message
                    );
                    Ok(None)
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn any_config_text_loads_or_is_invalid_config(t in text()) {
                check_config(&t)?;
                check_config(&format!("genesis_file = \"g.json\"\n[node]\n{t}"))?;
            }

            #[test]
            fn mutated_configs_load_or_are_invalid_config(t in mutated(valid_config())) {
                check_config(&t)?;
            }

            #[test]
            fn written_configs_load_back(t in valid_config()) {
                let dir = tempfile::tempdir().unwrap();
                let cfg = load_config(&write(dir.path(), "n.toml", &t)).unwrap();
                prop_assert_eq!(cfg.genesis_file, dir.path().join("genesis.json"));
                let again = toml::to_string(&Written {
                    genesis_file: "genesis.json",
                    node: &NodeConfig { data_dir: "node1/data".into(), ..cfg.node },
                })
                .unwrap();
                prop_assert_eq!(again, t);
            }

            #[test]
            fn any_genesis_text_loads_or_is_invalid_genesis(t in text()) {
                check_genesis(&t)?;
            }

            #[test]
            fn mutated_geneses_load_or_are_invalid_genesis(
                t in mutated(Just(serde_json::to_string(&Genesis::dev()).unwrap())),
            ) {
                if let Some(g) = check_genesis(&t)? {
                    let again = serde_json::to_string(&g).unwrap();
                    prop_assert_eq!(check_genesis(&again)?, Some(g));
                }
            }
        }

        #[test]
        fn the_written_dev_genesis_loads_back() {
            let g = Genesis::dev();
            let text = serde_json::to_string_pretty(&g).unwrap();
            let dir = tempfile::tempdir().unwrap();
            assert_eq!(
                load_genesis(&write(dir.path(), "g.json", &text)).unwrap(),
                g
            );
        }
    }
}
