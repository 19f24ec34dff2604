//! Host ports of Background services: whether a port is free before a
//! service starts, and whether it accepts connections afterwards.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Returns whether something already listens on `port` on this host.
pub fn is_taken(port: u16) -> bool {
    // Binding the wildcard address fails when any address holds the port.
    if TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_err() {
        return true;
    }
    accepts(port)
}

/// Returns whether `127.0.0.1:port` accepts a TCP connection.
///
/// A connection whose local address equals its peer is Linux's TCP
/// self-connect: with nothing listening on a port of the ephemeral range, the
/// kernel may pick that same port as the source and the socket connects to
/// itself. Such a connection does not count.
pub fn accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
        Ok(stream) => !is_self_connect(&stream),
        Err(_) => false,
    }
}

/// Returns whether `port` accepts TCP connections on `::1`, the IPv6
/// loopback address.
pub fn accepts_on_ipv6_loopback(port: u16) -> bool {
    let address = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
        Ok(stream) => !is_self_connect(&stream),
        Err(_) => false,
    }
}

fn is_self_connect(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

/// Returns a port that is free on 127.0.0.1 at the time of the call.
pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_port_is_taken() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(is_taken(port));
        assert!(accepts(port));
        drop(listener);
        // Another process may bind the freed port at any moment, so the
        // closed port has to read as closed on one of several probes only.
        assert!((0..20).any(|_| !accepts(port)));
    }
}
