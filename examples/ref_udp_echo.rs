//! Reference UDP echo server: one tokio socket, `recv_from` then `send_to`,
//! the yardstick for `duplex serve echo udp://…` in
//! `scripts/bench-compare.sh`.
//!
//! ```text
//! cargo run --release --example ref_udp_echo -- 127.0.0.1:0
//! nc -u 127.0.0.1 PORT
//! ```
//!
//! Prints `listening PORT` once bound.

use tokio::net::UdpSocket;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let socket = UdpSocket::bind(&addr).await?;
    println!("listening {}", socket.local_addr()?.port());
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = socket.recv_from(&mut buf).await?;
        let _ = socket.send_to(&buf[..n], peer).await;
    }
}
