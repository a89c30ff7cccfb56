//! Starting and stopping the real binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root (the folder with the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `target/debug` of the workspace (honours CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        None => workspace_root().join("target"),
    }
}

pub fn bin_dir() -> PathBuf {
    target_dir().join("debug")
}

/// Builds the binary and every bundled plugin once per test process.
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--workspace", "--quiet"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --workspace failed");
    });
}

/// Builds an out-of-tree cdylib crate (its own workspace) and returns the path
/// of the library. All of them share one target folder to reuse dependencies.
pub fn build_out_of_tree(crate_dir: &Path, lib_name: &str) -> PathBuf {
    let target = target_dir().join("out-of-tree");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building {} failed", crate_dir.display());
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        lib_name,
        std::env::consts::DLL_SUFFIX
    );
    let path = target.join("debug").join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Lines the server printed, shared with the reader thread.
#[derive(Default)]
struct Output {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    output: Arc<Output>,
}

pub struct ServerBuilder {
    config: String,
    files: Vec<(PathBuf, Vec<u8>)>,
    env: Vec<(String, String)>,
    plugin_dir: Option<PathBuf>,
    write_config: bool,
}

impl ServerBuilder {
    /// Sets an environment variable for the server process.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Loads plugins from this folder instead of target/debug
    /// (written as `plugins.dir` into the config).
    pub fn plugin_dir(mut self, dir: &Path) -> Self {
        self.plugin_dir = Some(dir.to_path_buf());
        self
    }

    /// Writes a file (path relative to the server's temp folder, which is
    /// also the config folder) before the server starts.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((PathBuf::from(path), contents.into()));
        self
    }

    /// Starts without writing a config file (built-in defaults).
    pub fn no_config_file(mut self) -> Self {
        self.write_config = false;
        self
    }

    pub fn start(self) -> Server {
        ensure_built();
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("config.yaml");
        let mut config = self.config.clone();
        if let Some(p) = &self.plugin_dir {
            let dir_line = format!("  dir: {:?}\n", p.display().to_string());
            if config.lines().any(|l| l == "plugins:") {
                config = config.replacen("plugins:\n", &format!("plugins:\n{dir_line}"), 1);
            } else {
                config.push_str(&format!("\nplugins:\n{dir_line}"));
            }
        }
        if self.write_config {
            std::fs::write(&config_path, &config).expect("write config");
        }
        for (rel, contents) in &self.files {
            let path = dir.path().join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create folder");
            }
            std::fs::write(&path, contents).expect("write file");
        }
        let mut cmd = Command::new(bin_dir().join("cliproxy"));
        cmd.arg("--config")
            .arg(&config_path)
            .current_dir(dir.path())
            // `auth-dir` defaults to ~/.cli-proxy-api: keep it in the temp dir.
            .env("HOME", dir.path())
            .env_remove("MANAGEMENT_PASSWORD")
            .env("CLIPROXY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if !self.write_config {
            // Port 0 must still reach the server: use the env override.
            cmd.env("CLIPROXY_PORT", "0")
                .env("CLIPROXY_HOST", "127.0.0.1");
        }
        let mut child = cmd.spawn().expect("start cliproxy");
        let output = Arc::new(Output::default());
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if std::env::var_os("CLIPROXY_TEST_ECHO").is_some() {
                        eprintln!("[cliproxy] {line}");
                    }
                    out.lines.lock().expect("lock").push(line);
                    out.changed.notify_all();
                }
            });
        }
        let mut server = Server {
            child,
            port: 0,
            dir,
            output,
        };
        let ready = server
            .wait_for_log("cliproxy ready: listening on", Duration::from_secs(30))
            .unwrap_or_else(|| {
                panic!(
                    "server did not become ready; output:\n{}",
                    server.logs().join("\n")
                )
            });
        server.port = ready
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .expect("port in the ready line");
        server
    }
}

impl Server {
    /// A server with this config text (port 0 and host 127.0.0.1 are added
    /// when the config does not set them).
    pub fn builder(config: &str) -> ServerBuilder {
        let mut text = String::new();
        if !config.lines().any(|l| l.starts_with("port:")) {
            text.push_str("port: 0\n");
        }
        if !config.lines().any(|l| l.starts_with("host:")) {
            text.push_str("host: 127.0.0.1\n");
        }
        text.push_str(config);
        ServerBuilder {
            config: text,
            files: Vec::new(),
            env: Vec::new(),
            plugin_dir: None,
            write_config: true,
        }
    }

    pub fn start(config: &str) -> Server {
        Self::builder(config).start()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The server process's id (e.g. to read `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn read_config(&self) -> String {
        std::fs::read_to_string(self.config_path()).expect("read config")
    }

    pub fn logs(&self) -> Vec<String> {
        self.output.lines.lock().expect("lock").clone()
    }

    /// Waits until a printed line contains `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.output.lines.lock().expect("lock");
        loop {
            if let Some(l) = lines.iter().find(|l| l.contains(needle)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            lines = self
                .output
                .changed
                .wait_timeout(lines, deadline - now)
                .expect("lock")
                .0;
        }
    }

    /// Count of printed lines containing `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.logs().iter().filter(|l| l.contains(needle)).count()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// Sends SIGTERM without waiting (see [`Server::wait_exit`]).
    pub fn send_sigterm(&self) {
        // SAFETY: kill(2) with a pid we own; no memory is touched.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    /// Kills the process with SIGKILL (no shutdown code runs) and reaps it.
    pub fn kill_hard(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) with a pid we own; no memory is touched.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL);
        }
        self.child.wait().expect("wait")
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_exit(mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) with a pid we own; no memory is touched.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}
