//! TLS helpers of the integration tests: a development certificate made by
//! `duplex cert`, and a blocking rustls client that plugs into
//! [`crate::common::Conn`] so that line and echo checks work over `tls://`
//! exactly as over TCP.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::common::{Conn, Stream, WAIT, run_duplex};

/// A certificate and key written by `duplex cert`.
pub struct CertFiles {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// The certificate's and the key's paths, as command-line arguments.
    pub fn paths(&self) -> (String, String) {
        (
            self.cert.display().to_string(),
            self.key.display().to_string(),
        )
    }
}

/// `duplex cert --out DIR --host localhost --host 127.0.0.1`.
pub fn make_cert(dir: &Path) -> CertFiles {
    let out = run_duplex(
        &[
            "cert",
            "--out",
            &dir.display().to_string(),
            "--host",
            "localhost",
            "--host",
            "127.0.0.1",
        ],
        WAIT,
    );
    assert_eq!(out.code(), Some(0), "duplex cert failed: {}", out.stderr);
    let files = CertFiles {
        dir: dir.to_path_buf(),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    assert!(
        files.cert.is_file() && files.key.is_file(),
        "no cert.pem/key.pem"
    );
    files
}

/// `--tls-cert C --tls-key K` for `duplex serve`.
pub fn tls_args(c: &CertFiles) -> [String; 4] {
    [
        "--tls-cert".into(),
        c.cert.display().to_string(),
        "--tls-key".into(),
        c.key.display().to_string(),
    ]
}

/// A blocking TLS client connection, trusting `ca`.
pub struct TlsStream {
    s: StreamOwned<ClientConnection, TcpStream>,
}

impl TlsStream {
    /// Connects and completes the handshake (server name `localhost`).
    pub fn connect(addr: SocketAddr, ca: &Path) -> TlsStream {
        let tcp = TcpStream::connect_timeout(&addr, WAIT)
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        TlsStream::over(tcp, ca)
    }

    /// TLS over an already connected socket.
    pub fn over(tcp: TcpStream, ca: &Path) -> TlsStream {
        tcp.set_read_timeout(Some(WAIT)).expect("read timeout");
        tcp.set_write_timeout(Some(WAIT)).expect("write timeout");
        let config: Arc<rustls::ClientConfig> =
            duplex::tls::client_config(Some(ca), false).expect("client settings");
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = ClientConnection::new(config, name).expect("client connection");
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock).unwrap_or_else(|e| {
                panic!(
                    "TLS handshake with {addr:?}: {e}",
                    addr = s.sock.peer_addr()
                )
            });
        }
        TlsStream { s }
    }

    /// Reads without forgiving a close that lacks TLS close_notify (an
    /// `UnexpectedEof` error then).
    pub fn read_strict(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.s.read(buf)
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        &self.s.sock
    }

    /// The same connection as a writer that never reads (a client that
    /// sends and ignores every answer).
    pub fn write_only(self) -> WriteOnly {
        let (conn, sock) = self.s.into_parts();
        WriteOnly { conn, sock }
    }

    /// A line-reading client over this TLS stream.
    pub fn conn(self) -> Conn {
        Conn::new(Box::new(self))
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.s.read(buf) {
            // A peer that closes without close_notify has still closed.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            r => r,
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.s.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.s.flush()
    }
}

impl Stream for TlsStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.s.sock.set_read_timeout(t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.s.sock.set_write_timeout(t)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.s.sock.shutdown(how)
    }
    fn try_clone_box(&self) -> io::Result<Box<dyn Stream>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a TLS stream cannot be cloned",
        ))
    }
}

/// A TLS client that writes and never reads: what it sends is encrypted and
/// written to the socket, nothing is ever read back.
pub struct WriteOnly {
    pub conn: ClientConnection,
    pub sock: TcpStream,
}

impl Write for WriteOnly {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush()?;
        self.conn.writer().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }
}
