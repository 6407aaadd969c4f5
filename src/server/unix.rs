//! Unix domain stream listeners.
//!
//! A path that already exists is replaced only when it is a socket nobody is
//! listening on (a leftover from a crashed server). A live socket or any other
//! kind of file is an error and is never deleted. The socket file is removed
//! when the listener is dropped, but only if it is still the file this process
//! created (same device and inode): never somebody else's, and never the
//! file of a socket bound outside the server.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::task::{Context, Poll};

use tokio::net::{UnixListener, UnixStream};

use super::accept::Accept;
use super::peer::Peer;
use crate::endpoint::Endpoint;

pub struct UnixAcceptor {
    listener: UnixListener,
    /// Removes the socket file on drop, if this listener created it.
    _file: Option<SocketFile>,
}

impl UnixAcceptor {
    /// Serves a listening socket bound elsewhere (its file stays).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixAcceptor> {
        listener.set_nonblocking(true)?;
        Ok(UnixAcceptor {
            listener: UnixListener::from_std(listener)?,
            _file: None,
        })
    }
}

impl Accept for UnixAcceptor {
    type Stream = UnixStream;

    async fn accept(&self) -> io::Result<(UnixStream, Peer)> {
        let (stream, _) = self.listener.accept().await?;
        Ok(accepted(stream))
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, Peer)>> {
        self.listener
            .poll_accept(cx)
            .map_ok(|(stream, _)| accepted(stream))
    }
}

fn accepted(stream: UnixStream) -> (UnixStream, Peer) {
    let peer = match stream.peer_cred() {
        Ok(c) => Peer::Unix {
            pid: c.pid(),
            uid: c.uid(),
        },
        Err(_) => Peer::Unknown,
    };
    (stream, peer)
}

/// The socket file this process created.
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && m.dev() == self.dev
            && m.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn bind(path: &Path, endpoint: &Endpoint) -> anyhow::Result<UnixAcceptor> {
    let fail = |why: String| anyhow::anyhow!("cannot listen on {endpoint}: {why}");
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            // Is anybody listening? A successful connect says yes.
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(fail("another server is listening on this socket".into())),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path)
                        .map_err(|e| fail(format!("cannot remove the stale socket: {e}")))?;
                    tracing::info!(path = %path.display(), "replaced a stale socket file");
                }
                Err(e) => return Err(fail(format!("the existing socket cannot be checked: {e}"))),
            }
        }
        Ok(_) => {
            return Err(fail(
                "the path exists and is not a socket (it will not be deleted)".into(),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e.to_string())),
    }
    let listener = UnixListener::bind(path).map_err(|e| fail(e.to_string()))?;
    let m = std::fs::symlink_metadata(path).map_err(|e| fail(e.to_string()))?;
    Ok(UnixAcceptor {
        listener,
        _file: Some(SocketFile {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
        }),
    })
}
