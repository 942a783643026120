//! TLS settings (`MQTT_TLS_*`) and the checks of the files they name.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::values::shown;
use crate::error::ConfigError;

/// The lowest TLS version accepted (`MQTT_TLS_VERSION`): a broker that offers only older
/// versions is refused during the TLS handshake.
///
/// More variants may come: a `match` outside this crate needs a wildcard arm.
///
/// ```compile_fail,E0004
/// fn f(v: flask_mqtt_core::TlsVersion) {
///     match v {
///         flask_mqtt_core::TlsVersion::Tls12 => {}
///         flask_mqtt_core::TlsVersion::Tls13 => {}
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 or newer (TLS 1.3 whenever the broker offers it).
    #[default]
    Tls12,
    /// TLS 1.3 only: a broker that offers at most TLS 1.2 is refused.
    Tls13,
}

/// The names `MQTT_TLS_VERSION` accepts.
pub(crate) const TLS_VERSIONS: &[(&str, TlsVersion)] = &[
    ("tlsv1.2", TlsVersion::Tls12),
    ("tls1.2", TlsVersion::Tls12),
    ("1.2", TlsVersion::Tls12),
    ("tlsv1.3", TlsVersion::Tls13),
    ("tls1.3", TlsVersion::Tls13),
    ("1.3", TlsVersion::Tls13),
];

/// What a cipher list looks like, for errors.
pub(crate) const CIPHERS_FORM: &str =
    "an OpenSSL cipher list such as `ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384`";

/// TLS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    pub(crate) ca_certs: Option<PathBuf>,
    pub(crate) certfile: Option<PathBuf>,
    pub(crate) keyfile: Option<PathBuf>,
    pub(crate) version: TlsVersion,
    pub(crate) insecure: bool,
    pub(crate) verify_certificate: bool,
    pub(crate) ciphers: Option<String>,
}

/// Both checks of the server certificate on, as `MQTT_TLS_ENABLED=true` alone gives.
impl Default for TlsConfig {
    fn default() -> TlsConfig {
        TlsConfig {
            ca_certs: None,
            certfile: None,
            keyfile: None,
            version: TlsVersion::default(),
            insecure: false,
            verify_certificate: true,
            ciphers: None,
        }
    }
}

impl TlsConfig {
    /// CA certificate file; `None`: the system's trust store.
    pub fn ca_certs(&self) -> Option<&Path> {
        self.ca_certs.as_deref()
    }

    /// Client certificate file.
    pub fn certfile(&self) -> Option<&Path> {
        self.certfile.as_deref()
    }

    /// Client key file.
    pub fn keyfile(&self) -> Option<&Path> {
        self.keyfile.as_deref()
    }

    /// Lowest TLS version.
    pub fn version(&self) -> TlsVersion {
        self.version
    }

    /// Whether the host name check is skipped (`MQTT_TLS_INSECURE`, Flask-MQTT's
    /// `tls_insecure_set`): the certificate must still come from a trusted CA, but may
    /// name another host.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// Whether the server certificate is checked at all (`MQTT_TLS_VERIFY_CERTIFICATE`,
    /// default `true`): `false` accepts any certificate, from any CA, for any host name.
    pub fn verify_certificate(&self) -> bool {
        self.verify_certificate
    }

    /// The warning logged at every connect to `uri` while a check of the server
    /// certificate is off, naming the setting (keys of the client with `prefix`); `None`
    /// while both checks are on.
    pub(crate) fn weakened(&self, prefix: &str, uri: &str) -> Option<String> {
        if !self.verify_certificate {
            Some(format!(
                "TLS certificate checks are OFF for {uri} ({prefix}_TLS_VERIFY_CERTIFICATE=false): any certificate is accepted, so anyone on the path can read and change this connection"
            ))
        } else if self.insecure {
            Some(format!(
                "TLS host name check is OFF for {uri} ({prefix}_TLS_INSECURE): any certificate from a trusted CA is accepted, whatever host it names"
            ))
        } else {
            None
        }
    }

    /// OpenSSL cipher list.
    pub fn ciphers(&self) -> Option<&str> {
        self.ciphers.as_deref()
    }
}

/// Checks that `path` names a readable regular file (a PEM file Paho will read at every
/// connect): said at startup, naming `key`, instead of Paho's "TCP/TLS connect failure".
/// Returns the file, opened, for [`check_unencrypted`] to read.
pub(crate) fn check_readable(key: &str, path: &Path) -> Result<File, ConfigError> {
    let shown_path = path.display().to_string();
    let bad = |what: String| ConfigError::new(key, Some(&shown(&shown_path)), what);
    // Paho hands the path to OpenSSL as a C string, which ends at a NUL.
    if shown_path.contains('\0') {
        return Err(bad("a file path without NUL characters".to_owned()));
    }
    // Paho's `SslOptionsBuilder` takes paths as UTF-8 text: any other path fails every
    // connect with "Path string error", so it is refused here, once, naming the key.
    if path.to_str().is_none() {
        return Err(bad(
            "a file path in UTF-8 (Paho cannot pass any other path to OpenSSL); rename the file or link to it from a UTF-8 path".to_owned(),
        ));
    }
    let bad_io = |what: &str, e| ConfigError::io(key, Some(&shown(&shown_path)), what, e);
    // Looked at before it is opened: opening a FIFO would wait for a writer.
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => File::open(path).map_err(|e| bad_io("a readable PEM file", e)),
        Ok(_) => Err(bad("a PEM file (this is not a regular file)".to_owned())),
        Err(e) => Err(bad_io("an existing PEM file", e)),
    }
}

/// Checks that the PEM file `path` (a client certificate or key, set by `key`), opened
/// as `file` by [`check_readable`], holds no encrypted private key: flask-mqtt has no
/// setting for a key's password, so every connect would fail (Paho C reads the key at
/// every connect and, patched, gives OpenSSL no password: docs/paho-fork.md, patch 17).
/// Said at startup, naming the key, rather than at each connect.
pub(crate) fn check_unencrypted(key: &str, path: &Path, file: File) -> Result<(), ConfigError> {
    // A PEM certificate chain and key are a few KiB; the markers are in their first
    // lines. A larger file is read in part.
    const READ_AT_MOST: u64 = 1 << 20;
    let shown_path = path.display().to_string();
    let mut text = Vec::new();
    if let Err(e) = file.take(READ_AT_MOST).read_to_end(&mut text) {
        return Err(ConfigError::io(
            key,
            Some(&shown(&shown_path)),
            "a readable PEM file",
            e,
        ));
    }
    let holds = |marker: &[u8]| text.windows(marker.len()).any(|w| w == marker);
    if holds(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || holds(b"Proc-Type: 4,ENCRYPTED") {
        return Err(ConfigError::new(
            key,
            Some(&shown(&shown_path)),
            "an unencrypted private key: this one is encrypted, and there is no setting for its password, so every connect would fail (decrypt it with `openssl pkey -in key.pem -out plain.pem` and protect the file instead)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// An encrypted private key (PKCS#8 or OpenSSL's traditional form), in the key file or
    /// in the certificate file that holds the key, is refused at build, naming the key;
    /// an unencrypted one is taken.
    #[test]
    fn encrypted_private_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("flask-mqtt-tls-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let cert = file(
            "cert.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        );
        let plain = file(
            "plain.pem",
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        );
        let pkcs8 = file(
            "pkcs8.pem",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let traditional = file(
            "rsa.pem",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nMIIE\n-----END RSA PRIVATE KEY-----\n",
        );
        let with_key = file(
            "both.pem",
            &format!(
                "{}{}",
                std::fs::read_to_string(&cert).unwrap(),
                std::fs::read_to_string(&pkcs8).unwrap()
            ),
        );
        let build = |cert: &Path, key: Option<&Path>| {
            let text = |p: &Path| p.display().to_string();
            let (cert, key) = (text(cert), key.map(text));
            crate::config::Config::from_lookup("MQTT", |k| {
                Ok(match k {
                    "MQTT_TLS_ENABLED" => Some("true".to_owned()),
                    "MQTT_TLS_CERTFILE" => Some(cert.clone()),
                    "MQTT_TLS_KEYFILE" => key.clone(),
                    _ => None,
                })
            })
        };
        let results = [
            (build(&cert, Some(&plain)), None),
            (build(&cert, Some(&pkcs8)), Some("MQTT_TLS_KEYFILE")),
            (build(&cert, Some(&traditional)), Some("MQTT_TLS_KEYFILE")),
            (build(&with_key, None), Some("MQTT_TLS_CERTFILE")),
        ];
        let _ = std::fs::remove_dir_all(&dir);
        for (built, refused) in results {
            match (built, refused) {
                (Ok(_), None) => {}
                (Err(e), Some(key)) => {
                    assert_eq!(e.key(), key, "{e}");
                    assert!(
                        e.expected().starts_with("an unencrypted private key"),
                        "{e}"
                    );
                }
                (other, refused) => panic!("{refused:?}: {other:?}"),
            }
        }
    }

    use std::path::Path;

    use crate::config::Config;
    use crate::error::ConfigError;

    /// What building a client with TLS gives with `path` as its CA file, then as its
    /// client certificate (with the key file `keyfile`), each with the key that names it.
    fn built_with(path: &Path, keyfile: &Path) -> [(Result<Config, ConfigError>, &'static str); 2] {
        [
            (
                Config::builder().tls(true).tls_ca_certs(path).build(),
                "MQTT_TLS_CA_CERTS",
            ),
            (
                Config::builder()
                    .tls(true)
                    .tls_client_cert(path, keyfile)
                    .build(),
                "MQTT_TLS_CERTFILE",
            ),
        ]
    }

    /// A TLS file that cannot be read: the error names the key and says why, and keeps
    /// the I/O error itself (its kind), not only its text, which it says once.
    #[test]
    fn unreadable_files_keep_the_io_error() {
        let missing = std::env::temp_dir().join("flask-mqtt-no-such-dir/tls.pem");
        for (built, key) in built_with(&missing, &missing) {
            let err = built.unwrap_err();
            assert_eq!(err.key(), key, "{err}");
            assert!(err.expected().starts_with("an existing PEM file"), "{err}");
            let io = err.io_error().expect("the I/O error is kept");
            assert_eq!(io.kind(), std::io::ErrorKind::NotFound, "{err}");
            assert_eq!(err.to_string().matches(&io.to_string()).count(), 1, "{err}");
            assert!(std::error::Error::source(&err).is_none(), "{err}");
        }
    }

    /// A readable file whose path is not UTF-8 is refused at build, naming the key:
    /// Paho would fail every connect with it.
    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_are_refused() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        let dir = std::env::temp_dir().join(format!("flask-mqtt-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(OsStr::from_bytes(b"ca-\xff.pem"));
        // The usual Linux file systems take any bytes but '/' and NUL in a name: one that
        // refuses this one fails the test rather than passing it unchecked.
        let written = std::fs::write(&path, "PEM");
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        written.expect("a file whose name is not UTF-8 in the temp dir");
        let built = built_with(&path, &dir.join("key.pem"));
        let _ = std::fs::remove_dir_all(&dir);
        for (built, key) in built {
            let err = built.unwrap_err();
            assert_eq!(err.key(), key, "{err}");
            assert!(err.expected().starts_with("a file path in UTF-8"), "{err}");
            assert!(err.value().is_some_and(|v| v.contains("ca-")), "{err}");
        }
    }
}
