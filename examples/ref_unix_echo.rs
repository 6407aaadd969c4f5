//! Reference Unix-socket echo server: the smallest idiomatic tokio echo,
//! the yardstick for `duplex serve echo unix://…` in
//! `scripts/bench-compare.sh`.
//!
//! ```text
//! cargo run --release --example ref_unix_echo -- /tmp/ref.sock
//! nc -U /tmp/ref.sock
//! ```
//!
//! Prints `listening PATH` once bound.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/ref_unix_echo.sock".into());
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    println!("listening {path}");
    loop {
        let (mut stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}
