//! Running a node in this process, shared by `want dev` and `want node`: the runtime, logging,
//! binding the HTTP address, serving until SIGTERM or Ctrl-C, and a clean stop.

use std::net::SocketAddr;

use want_node::Node;

use crate::output::CliError;

/// How long open HTTP connections may finish after Ctrl-C before the node exits anyway.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The multi-threaded runtime a node runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("want-node")
        .build()
        .map_err(|e| CliError::new("runtime", format!("cannot start the runtime: {e}")).into())
}

/// A node error with a stable CLI code.
pub fn node_err(e: want_node::NodeError) -> anyhow::Error {
    let code = match &e {
        want_node::NodeError::Storage(want_storage::StorageError::WrongChain { .. }) => {
            "wrong_chain"
        }
        want_node::NodeError::Storage(want_storage::StorageError::FormatTooNew { .. }) => {
            "format_too_new"
        }
        want_node::NodeError::Storage(want_storage::StorageError::FormatTooOld { .. }) => {
            "format_too_old"
        }
        want_node::NodeError::Storage(want_storage::StorageError::InUse { .. }) => {
            "data_dir_in_use"
        }
        want_node::NodeError::DevKeyInGenesis { .. } => "dev_key_in_genesis",
        want_node::NodeError::Io(m) if m.contains("already in use") => "address_in_use",
        _ => "node_error",
    };
    CliError::new(code, e.to_string()).into()
}

/// Binds the HTTP address (first, so that a taken port is reported before the data directory
/// is touched); returns the listener and the address it listens on.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = want_node::bind_http(addr).await.map_err(node_err)?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::new("node_error", e.to_string()))?;
    Ok((listener, local))
}

/// Serves the HTTP API of a started node (and its member listener, when it has one) until
/// SIGTERM or Ctrl-C, then stops the node cleanly (open connections get [`SHUTDOWN_GRACE`] to
/// finish).
pub async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    members: Option<tokio::net::TcpListener>,
    node: Node,
) -> anyhow::Result<()> {
    let member_server = members.map(|m| {
        tokio::spawn(want_node::api::serve_members(
            m,
            node.clone(),
            node.stopping(),
        ))
    });
    let stopper = node.clone();
    let shutdown = async move {
        wait_for_signal().await;
        tracing::info!(target: "node", "stopping");
        stopper.shutdown();
    };
    let server = want_node::api::serve(listener, node.clone(), shutdown);
    tokio::pin!(server);
    tokio::select! {
        r = &mut server => r.map_err(|e| CliError::new("node_error", format!("HTTP server failed: {e}")))?,
        _ = async {
            node.stopping().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!(target: "node", "connections still open after {} s; stopping anyway", SHUTDOWN_GRACE.as_secs()),
    }
    if let Some(server) = member_server {
        match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(target: "node", "the member listener failed: {e}"),
            Ok(Err(e)) => tracing::warn!(target: "node", "the member listener stopped: {e}"),
            Err(_) => {
                tracing::warn!(target: "node", "member connections still open after {} s; stopping anyway", SHUTDOWN_GRACE.as_secs())
            }
        }
    }
    node.stop().await.map_err(node_err)?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logs to stderr, filtered by `WANT_LOG` (default: info, openraft at warn).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    // openraft reports its internal state at info level on every start and election.
    let filter = EnvFilter::try_from_env("WANT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
