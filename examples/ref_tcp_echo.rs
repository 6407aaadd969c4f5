//! Reference TCP echo server: the smallest idiomatic tokio echo, used by
//! `scripts/bench-tcp.sh` as the yardstick for `duplex serve echo`.
//!
//! ```text
//! cargo run --release --example ref_tcp_echo -- 127.0.0.1:0
//! nc 127.0.0.1 PORT
//! ```
//!
//! Prints `listening PORT` once bound.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening {}", listener.local_addr()?.port());
    loop {
        let (mut stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
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
