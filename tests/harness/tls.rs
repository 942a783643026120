//! TLS for the harness broker: a throw-away PKI made with the `openssl` CLI
//! ([`Pki`]) and the Mosquitto listeners that use it
//! ([`BrokerBuilder::tls`](crate::BrokerBuilder::tls),
//! [`BrokerBuilder::mutual_tls`](crate::BrokerBuilder::mutual_tls)).
//!
//! The `openssl` command line tool is used (not the `openssl` crate) so that
//! the files are exactly what a user would make by hand following the
//! examples' "Run with:" instructions, and so that a failing step can be
//! reproduced from the command the panic message quotes.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Environment variable overriding the path of the `openssl` binary.
const OPENSSL_ENV: &str = "OPENSSL";
/// Subject alternative names of the server certificate unless the builder
/// says otherwise: the broker is reached as `127.0.0.1` or `localhost`.
pub(crate) const DEFAULT_SERVER_SAN: &str = "IP:127.0.0.1,DNS:localhost";
/// Validity of every certificate, in days.
const DAYS: &str = "3650";

/// The files of a throw-away public key infrastructure, all PEM:
///
/// * a CA (`ca_cert`, `ca_key`), which signs
///   * the broker's server certificate (`server_cert`, `server_key`; SAN
///     [`server_san`](Self::server_san), by default
///     `IP:127.0.0.1,DNS:localhost`, extended key usage `serverAuth`),
///   * a client certificate for mutual TLS (`client_cert`, `client_key`,
///     CN `flask-mqtt-tests client`, `clientAuth`);
/// * a second, unrelated CA (`wrong_ca_cert`, `wrong_ca_key`) that the
///   broker does not trust and that did not sign the server certificate,
///   which signs
///   * a client certificate the broker must refuse (`wrong_client_cert`,
///     `wrong_client_key`).
///
/// Keys are EC P-256 (fast to generate; every certificate is made fresh for
/// each broker). Certificates are mode 0644, keys 0600: the broker runs as
/// the user that ran the tests (the harness writes `user root` into the
/// configuration when that is root, so Mosquitto does not switch to the
/// `mosquitto` user, which could not read them).
#[derive(Debug, Clone)]
pub struct Pki {
    /// The directory holding every file (and the `openssl.cnf` used).
    pub dir: PathBuf,
    /// The CA certificate that clients trust (`MQTT_TLS_CA_CERTS`).
    pub ca_cert: PathBuf,
    /// The CA's private key.
    pub ca_key: PathBuf,
    /// The broker's certificate, signed by the CA.
    pub server_cert: PathBuf,
    /// The broker's private key.
    pub server_key: PathBuf,
    /// A client certificate signed by the CA (`MQTT_TLS_CERTFILE`).
    pub client_cert: PathBuf,
    /// Its private key (`MQTT_TLS_KEYFILE`).
    pub client_key: PathBuf,
    /// An unrelated CA's certificate: trusting only it must fail.
    pub wrong_ca_cert: PathBuf,
    /// The unrelated CA's private key.
    pub wrong_ca_key: PathBuf,
    /// A client certificate signed by the unrelated CA.
    pub wrong_client_cert: PathBuf,
    /// Its private key.
    pub wrong_client_key: PathBuf,
    /// The server certificate's subject alternative names, in OpenSSL's
    /// syntax (`IP:127.0.0.1,DNS:localhost`).
    pub server_san: String,
}

impl Pki {
    /// Generates a fresh PKI into `dir` (created if missing) with the
    /// `openssl` CLI (`$OPENSSL` or `openssl` in `PATH`). `server_san` is the
    /// server certificate's subjectAltName in OpenSSL's syntax, e.g.
    /// `"IP:127.0.0.1,DNS:localhost"`. Panics, quoting the failed command
    /// and its output, if a step fails.
    pub fn generate(dir: &Path, server_san: &str) -> Pki {
        fs::create_dir_all(dir)
            .unwrap_or_else(|err| panic!("creating the PKI directory {}: {err}", dir.display()));
        let f = |name: &str| dir.join(name);
        let pki = Pki {
            dir: dir.to_owned(),
            ca_cert: f("ca.crt"),
            ca_key: f("ca.key"),
            server_cert: f("server.crt"),
            server_key: f("server.key"),
            client_cert: f("client.crt"),
            client_key: f("client.key"),
            wrong_ca_cert: f("wrong-ca.crt"),
            wrong_ca_key: f("wrong-ca.key"),
            wrong_client_cert: f("wrong-client.crt"),
            wrong_client_key: f("wrong-client.key"),
            server_san: server_san.to_owned(),
        };
        let cnf = f("openssl.cnf");
        fs::write(&cnf, openssl_cnf(server_san))
            .unwrap_or_else(|err| panic!("writing {}: {err}", cnf.display()));

        pki.self_signed_ca(&pki.ca_key, &pki.ca_cert, "flask-mqtt-tests CA");
        pki.self_signed_ca(
            &pki.wrong_ca_key,
            &pki.wrong_ca_cert,
            "flask-mqtt-tests wrong CA",
        );
        let ca = (pki.ca_cert.as_path(), pki.ca_key.as_path());
        let wrong_ca = (pki.wrong_ca_cert.as_path(), pki.wrong_ca_key.as_path());
        pki.signed(ca, "server", "localhost", "server_ext", 2);
        pki.signed(ca, "client", "flask-mqtt-tests client", "client_ext", 3);
        pki.signed(
            wrong_ca,
            "wrong-client",
            "flask-mqtt-tests wrong client",
            "client_ext",
            4,
        );
        for (path, mode) in [
            (&pki.ca_cert, 0o644),
            (&pki.server_cert, 0o644),
            (&pki.client_cert, 0o644),
            (&pki.wrong_ca_cert, 0o644),
            (&pki.wrong_client_cert, 0o644),
            (&pki.ca_key, 0o600),
            (&pki.server_key, 0o600),
            (&pki.client_key, 0o600),
            (&pki.wrong_ca_key, 0o600),
            (&pki.wrong_client_key, 0o600),
        ] {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .unwrap_or_else(|err| panic!("chmod {mode:o} {}: {err}", path.display()));
        }
        pki
    }

    fn cnf(&self) -> PathBuf {
        self.dir.join("openssl.cnf")
    }

    fn self_signed_ca(&self, key: &Path, cert: &Path, cn: &str) {
        let subject = format!("/CN={cn}");
        #[rustfmt::skip]
        openssl(&[
            "req", "-x509", "-new",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", utf8(key), "-out", utf8(cert), "-days", DAYS, "-subj", &subject,
            "-config", utf8(&self.cnf()), "-extensions", "ca_ext",
        ]);
    }

    /// Makes `<name>.key` + `<name>.crt` signed by `(ca_cert, ca_key)` with
    /// the extensions of section `ext` of our `openssl.cnf`.
    fn signed(&self, ca: (&Path, &Path), name: &str, cn: &str, ext: &str, serial: u32) {
        let (ca_cert, ca_key) = ca;
        let key = self.dir.join(format!("{name}.key"));
        let csr = self.dir.join(format!("{name}.csr"));
        let cert = self.dir.join(format!("{name}.crt"));
        let subject = format!("/CN={cn}");
        let serial = serial.to_string();
        let cnf = self.cnf();
        #[rustfmt::skip]
        openssl(&[
            "req", "-new",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", utf8(&key), "-out", utf8(&csr), "-subj", &subject,
            "-config", utf8(&cnf),
        ]);
        #[rustfmt::skip]
        openssl(&[
            "x509", "-req", "-in", utf8(&csr),
            "-CA", utf8(ca_cert), "-CAkey", utf8(ca_key), "-set_serial", &serial,
            "-days", DAYS, "-out", utf8(&cert),
            "-extfile", utf8(&cnf), "-extensions", ext,
        ]);
    }
}

/// `path` as `&str` (the harness's temporary directories are UTF-8).
fn utf8(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("PKI path {} is not UTF-8", path.display()))
}

/// The `openssl.cnf` of the PKI: a prompt-free `req` section and the
/// extensions of each kind of certificate.
fn openssl_cnf(server_san: &str) -> String {
    format!(
        "# Written by the flask-mqtt-tests harness.
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {server_san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"
    )
}

/// Runs `openssl ARGS...`; panics with the command and its output on failure.
fn openssl(args: &[&str]) {
    let program = std::env::var_os(OPENSSL_ENV).unwrap_or_else(|| "openssl".into());
    let shown = || format!("{} {}", Path::new(&program).display(), args.join(" "));
    let out = Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "running `{}`: {err} (install OpenSSL's command line tool, Debian: `openssl`, \
                 or set {OPENSSL_ENV}=/path/to/openssl)",
                shown()
            )
        });
    if !out.status.success() {
        panic!(
            "`{}` failed ({}):\n{}{}",
            shown(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The TLS listeners a builder asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsOptions {
    /// [`BrokerBuilder::tls`](crate::BrokerBuilder::tls).
    pub(crate) server_auth: bool,
    /// [`BrokerBuilder::mutual_tls`](crate::BrokerBuilder::mutual_tls).
    pub(crate) mutual: bool,
    /// [`BrokerBuilder::tls_server_san`](crate::BrokerBuilder::tls_server_san).
    pub(crate) server_san: Option<String>,
    /// [`BrokerBuilder::tls_max_version`](crate::BrokerBuilder::tls_max_version).
    pub(crate) max_version: Option<String>,
}

/// A broker's TLS listeners: its PKI and the ports they listen on.
#[derive(Debug)]
pub(crate) struct TlsListeners {
    pub(crate) pki: Pki,
    /// The `.tls()` listener (`require_certificate false`).
    pub(crate) server_auth_port: Option<u16>,
    /// The `.mutual_tls()` listener (`require_certificate true`).
    pub(crate) mutual_port: Option<u16>,
    /// The OpenSSL configuration Mosquitto runs with (`OPENSSL_CONF`), when
    /// the builder capped the TLS version.
    pub(crate) openssl_conf: Option<PathBuf>,
}

impl TlsListeners {
    /// Generates the PKI into `<broker dir>/pki` when any TLS listener was
    /// asked for. Ports are chosen by [`pick_ports`](Self::pick_ports).
    pub(crate) fn create(options: &TlsOptions, broker_dir: &Path) -> Option<TlsListeners> {
        if !options.server_auth && !options.mutual {
            return None;
        }
        let san = options.server_san.as_deref().unwrap_or(DEFAULT_SERVER_SAN);
        let openssl_conf = options.max_version.as_deref().map(|max| {
            let path = broker_dir.join("openssl-broker.cnf");
            let text = format!(
                "# Written by the flask-mqtt-tests harness: the broker's TLS version cap.
openssl_conf = init
[ init ]
ssl_conf = ssl_section
[ ssl_section ]
system_default = system_default
[ system_default ]
MaxProtocol = {max}
"
            );
            fs::write(&path, text)
                .unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
            path
        });
        Some(TlsListeners {
            pki: Pki::generate(&broker_dir.join("pki"), san),
            server_auth_port: options.server_auth.then_some(0),
            mutual_port: options.mutual.then_some(0),
            openssl_conf,
        })
    }

    /// Gives every listener a (new) free port, different from `main_port`
    /// and from each other.
    pub(crate) fn pick_ports(&mut self, main_port: u16, mut free_port: impl FnMut() -> u16) {
        let mut taken = vec![main_port];
        for port in [&mut self.server_auth_port, &mut self.mutual_port]
            .into_iter()
            .flatten()
        {
            *port = loop {
                let p = free_port();
                if !taken.contains(&p) {
                    break p;
                }
            };
            taken.push(*port);
        }
    }

    /// The ports of every TLS listener.
    pub(crate) fn ports(&self) -> impl Iterator<Item = u16> {
        [self.server_auth_port, self.mutual_port]
            .into_iter()
            .flatten()
    }

    /// Mosquitto configuration lines for the listeners (each `listener`
    /// line starts a block of per-listener options).
    pub(crate) fn config_lines(&self, host: &str) -> Vec<String> {
        let pki = &self.pki;
        let mut lines = Vec::new();
        for (port, require) in [(self.server_auth_port, false), (self.mutual_port, true)] {
            let Some(port) = port else { continue };
            lines.push(format!("listener {port} {host}"));
            lines.push(format!("cafile {}", pki.ca_cert.display()));
            lines.push(format!("certfile {}", pki.server_cert.display()));
            lines.push(format!("keyfile {}", pki.server_key.display()));
            lines.push(format!("require_certificate {require}"));
            if require {
                lines.push("use_identity_as_username false".to_owned());
            }
        }
        lines
    }

    /// Whether every TLS listener is up: Mosquitto logged opening it (in
    /// `log`, the log of the current start) and it accepts a TCP connection.
    pub(crate) fn ready(&self, log: &str) -> bool {
        self.ports().all(|port| {
            log.contains(&format!("listen socket on port {port}."))
                && TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_millis(500),
                )
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_have_one_block_per_listener() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = TlsListeners::create(
            &TlsOptions {
                server_auth: true,
                mutual: true,
                server_san: None,
                max_version: None,
            },
            dir.path(),
        )
        .unwrap();
        // A port source that repeats itself: the main port and duplicates are skipped.
        let mut from = [40000, 40000, 40001, 40001, 40002].into_iter();
        l.pick_ports(40000, || from.next().unwrap());
        let text = l.config_lines("127.0.0.1").join("\n");
        assert!(text.contains("listener 40001 127.0.0.1\ncafile "), "{text}");
        assert!(
            text.contains("require_certificate false\nlistener 40002 127.0.0.1"),
            "{text}"
        );
        assert!(text.ends_with("require_certificate true\nuse_identity_as_username false"));
        assert_eq!(l.ports().collect::<Vec<_>>(), [40001, 40002]);
    }

    #[test]
    fn nothing_without_tls() {
        let dir = tempfile::tempdir().unwrap();
        assert!(TlsListeners::create(&TlsOptions::default(), dir.path()).is_none());
        assert!(!dir.path().join("pki").exists());
    }
}
