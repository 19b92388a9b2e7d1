//! The Python venv the tests that drive kafka-python share (`target/py-venv`): one list of
//! pinned packages, created on first use. Included with `#[path]` by
//! interop_kafka_python.rs and serve_kafka_python.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Pinned versions. kafka-python's `kafka/codec.py` imports `snappy` (python-snappy),
/// `lz4.frame` (lz4), `zstandard`, and `xxhash` for the magic-0 lz4 checksum quirk;
/// confluent-kafka (its wheel bundles librdkafka) drives serve_kafka_python.rs too.
pub const PACKAGES: &[&str] = &[
    "kafka-python==3.0.12",
    "python-snappy==0.7.3",
    "lz4==4.4.5",
    "zstandard==0.25.0",
    "xxhash==3.6.0",
    "cramjam==2.14.0", // python-snappy 0.7 is a wrapper over cramjam
    "confluent-kafka==2.16.1",
];
const CHECK_IMPORTS: &str = "import kafka, snappy, lz4.frame, zstandard, xxhash, confluent_kafka; \
                             assert kafka.__version__ == '3.0.12', kafka.__version__; \
                             assert confluent_kafka.__version__ == '2.16.1', confluent_kafka.__version__";

fn find_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("KAFKA_SIM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = Command::new(&candidate)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then_some(candidate)
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

fn has_packages(py: &Path) -> bool {
    Command::new(py)
        .args(["-c", CHECK_IMPORTS])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The venv's interpreter, creating the venv on first use. `None` only if there is no
/// Python at all, after a loud SKIPPED naming `unchecked` (what goes unchecked); a failing
/// venv or pip install is a test failure, not a skip.
pub fn python(unchecked: &str) -> Option<PathBuf> {
    static PY: OnceLock<Option<PathBuf>> = OnceLock::new();
    PY.get_or_init(|| {
        let Some(system) = find_python() else {
            eprintln!();
            eprintln!("=====================================================================");
            eprintln!("SKIPPED: python3 not found — {unchecked} NOT checked");
            eprintln!("(set KAFKA_SIM_PYTHON to a Python 3 interpreter to run it)");
            eprintln!("=====================================================================");
            return None;
        };
        let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("py-venv");
        let py = venv_python(&venv);
        if !has_packages(&py) {
            let st = Command::new(&system)
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("run python -m venv");
            assert!(st.success(), "creating {} failed", venv.display());
            let st = Command::new(&py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(PACKAGES)
                .status()
                .expect("run pip");
            assert!(
                st.success(),
                "pip install {PACKAGES:?} failed (is PyPI reachable?)"
            );
            assert!(
                has_packages(&py),
                "venv lacks the packages after pip install"
            );
        }
        Some(py)
    })
    .clone()
}
