//! HTTPS on the main listener (`tls.enable`): rustls with ALPN `h2` and
//! `http/1.1`. The certificate and key are read at start-up (an unreadable
//! or invalid pair stops the start with a clear error) and re-read when
//! either file changes (checked every 2 s); a pair that fails to load then
//! is logged and the previous one keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// How often the certificate files are checked for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Why the certificate pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read TLS key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("TLS certificate and key do not fit together: {0}")]
    Config(String),
}

/// The live server config, swapped on reload.
pub struct TlsState {
    pub config: ArcSwap<ServerConfig>,
    cert: PathBuf,
    key: PathBuf,
}

/// The configured path, relative to the config file's folder.
pub fn resolve(path: &str, config_dir: &Path) -> PathBuf {
    let p = PathBuf::from(path.trim());
    if p.is_absolute() {
        p
    } else {
        config_dir.join(p)
    }
}

/// Reads the pair into a server config with ALPN h2 and http/1.1.
pub fn load(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Cert {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Cert {
            path: cert.to_path_buf(),
            reason: "no certificate in the file".into(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl TlsState {
    pub fn new(cert: PathBuf, key: PathBuf) -> Result<Arc<TlsState>, TlsError> {
        let config = load(&cert, &key)?;
        Ok(Arc::new(TlsState {
            config: ArcSwap::from_pointee(config),
            cert,
            key,
        }))
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.load_full())
    }

    /// Re-reads the pair whenever either file changes. Call in the runtime.
    pub fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut seen = (stamp(&self.cert), stamp(&self.key));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RELOAD_EVERY).await;
                let Some(state) = weak.upgrade() else { break };
                let now = (stamp(&state.cert), stamp(&state.key));
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&state.cert, &state.key) {
                    Ok(c) => {
                        state.config.store(Arc::new(c));
                        tracing::info!(cert = %state.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays")
                    }
                }
            }
        });
    }
}
