//! What a file descriptor is: a pipe, a unix socket and its peer's path, a TCP connection, or a
//! file. Peers come from the kernel's sock_diag netlink interface.

use std::{
    fs,
    os::fd::{AsRawFd as _, FromRawFd as _},
};

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FdInfo {
    /// "pipe", "unix", "tcp", "file" or "other".
    pub kind: &'static str,
    pub inode: Option<u64>,
    /// The socket's own path (unix) or local address (tcp), or the file's path.
    pub local: Option<String>,
    /// The peer's path (unix, e.g. journald's stdout socket) or remote address (tcp).
    pub peer: Option<String>,
}

fn bracket_inode(link: &str, prefix: &str) -> Option<u64> {
    link.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()
}

pub fn describe(pid: u32, fd: i32) -> Option<FdInfo> {
    describe_known(pid, fd, None)
}

/// `describe`, reusing `known` (the same fd's last description) when the fd is still the same
/// socket: reading the net tables is most of a watched daemon's rescan each interval.
pub fn describe_known(pid: u32, fd: i32, known: Option<&FdInfo>) -> Option<FdInfo> {
    let link = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let link = link.to_string_lossy();
    if let Some(ino) = bracket_inode(&link, "pipe:[") {
        return Some(FdInfo {
            kind: "pipe",
            inode: Some(ino),
            ..Default::default()
        });
    }
    if let Some(ino) = bracket_inode(&link, "socket:[") {
        if let Some(k) = known.filter(|k| k.inode == Some(ino) && k.kind != "pipe") {
            return Some(k.clone());
        }
        return Some(socket(pid, ino));
    }
    Some(FdInfo {
        kind: if link.starts_with('/') {
            "file"
        } else {
            "other"
        },
        local: Some(link.into_owned()),
        ..Default::default()
    })
}

fn socket(pid: u32, ino: u64) -> FdInfo {
    if let Ok(t) = fs::read_to_string(format!("/proc/{pid}/net/unix"))
        && let Some(local) = unix_row(&t, ino)
    {
        let peer = unix_peer(ino as u32);
        return FdInfo {
            kind: "unix",
            inode: Some(ino),
            local,
            peer,
        };
    }
    for file in ["tcp", "tcp6"] {
        if let Ok(t) = fs::read_to_string(format!("/proc/{pid}/net/{file}"))
            && let Some((l, r)) = tcp_row(&t, ino)
        {
            return FdInfo {
                kind: "tcp",
                inode: Some(ino),
                local: Some(l),
                peer: Some(r),
            };
        }
    }
    FdInfo {
        kind: "other",
        inode: Some(ino),
        ..Default::default()
    }
}

/// The row of /proc/net/unix with this inode: Some(path if bound).
pub fn unix_row(text: &str, ino: u64) -> Option<Option<String>> {
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 7 && f[6].parse::<u64>().ok() == Some(ino))
            .then(|| f.get(7).map(|p| p.to_string()))
    })
}

fn hex_addr(s: &str) -> Option<String> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    if ip.len() == 8 {
        let v = u32::from_str_radix(ip, 16).ok()?;
        let b = v.to_le_bytes();
        return Some(format!("{}.{}.{}.{}:{port}", b[0], b[1], b[2], b[3]));
    }
    Some(format!("[{ip}]:{port}"))
}

/// (local, remote) of the /proc/net/tcp row with this inode.
pub fn tcp_row(text: &str, ino: u64) -> Option<(String, String)> {
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 10 && f[9].parse::<u64>().ok() == Some(ino))
            .then(|| Some((hex_addr(f[1])?, hex_addr(f[2])?)))?
    })
}

// sock_diag for AF_UNIX (linux/unix_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const UDIAG_SHOW_NAME: u32 = 1;
const UDIAG_SHOW_PEER: u32 = 4;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;

#[repr(C)]
struct Request {
    nl_len: u32,
    nl_type: u16,
    nl_flags: u16,
    nl_seq: u32,
    nl_pid: u32,
    family: u8,
    protocol: u8,
    pad: u16,
    states: u32,
    ino: u32,
    show: u32,
    cookie: [u32; 2],
}

/// The attributes of one unix socket: (name, peer inode).
fn unix_diag(ino: u32) -> Option<(Option<String>, Option<u32>)> {
    let sock = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if sock < 0 {
        return None;
    }
    let sock = unsafe { std::os::fd::OwnedFd::from_raw_fd(sock) };
    let req = Request {
        nl_len: std::mem::size_of::<Request>() as u32,
        nl_type: SOCK_DIAG_BY_FAMILY,
        nl_flags: libc::NLM_F_REQUEST as u16,
        nl_seq: 1,
        nl_pid: 0,
        family: libc::AF_UNIX as u8,
        protocol: 0,
        pad: 0,
        states: u32::MAX,
        ino,
        show: UDIAG_SHOW_NAME | UDIAG_SHOW_PEER,
        cookie: [u32::MAX, u32::MAX],
    };
    let sent = unsafe {
        libc::send(
            sock.as_raw_fd(),
            (&req as *const Request).cast(),
            req.nl_len as usize,
            0,
        )
    };
    if sent < 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 16 + 16 {
        return None;
    }
    let buf = &buf[..n as usize];
    let msg_type = u16::from_ne_bytes([buf[4], buf[5]]);
    if msg_type != SOCK_DIAG_BY_FAMILY {
        return None; // NLMSG_ERROR: no such socket
    }
    let msg_len = (u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize).min(buf.len());
    // nlmsghdr (16) + unix_diag_msg (16), then rtattrs.
    let (mut name, mut peer) = (None, None);
    let mut off = 32;
    while off + 4 <= msg_len {
        let len = u16::from_ne_bytes([buf[off], buf[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([buf[off + 2], buf[off + 3]]);
        if len < 4 || off + len > msg_len {
            break;
        }
        let data = &buf[off + 4..off + len];
        match ty {
            UNIX_DIAG_NAME => {
                let path: Vec<u8> = data.iter().copied().take_while(|&b| b != 0).collect();
                name = Some(if data.first() == Some(&0) {
                    format!(
                        "@{}",
                        String::from_utf8_lossy(&data[1..]).trim_end_matches('\0')
                    )
                } else {
                    String::from_utf8_lossy(&path).into_owned()
                });
            }
            UNIX_DIAG_PEER if data.len() >= 4 => {
                peer = Some(u32::from_ne_bytes([data[0], data[1], data[2], data[3]]))
            }
            _ => {}
        }
        off += (len + 3) & !3;
    }
    Some((name, peer))
}

/// The path of the socket at the other end of a connected unix socket.
pub fn unix_peer(ino: u32) -> Option<String> {
    let (_, peer) = unix_diag(ino)?;
    unix_diag(peer?)?.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn parses_proc_net_rows() {
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                    0000000000000000: 00000002 00000000 00010000 0001 01 2001 /run/systemd/journal/stdout\n\
                    0000000000000000: 00000003 00000000 00000000 0001 03 2002\n";
        assert_eq!(
            unix_row(unix, 2001),
            Some(Some("/run/systemd/journal/stdout".into()))
        );
        assert_eq!(unix_row(unix, 2002), Some(None));
        assert_eq!(unix_row(unix, 9), None);
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                   0: 0100007F:0BB8 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3001 1\n";
        assert_eq!(
            tcp_row(tcp, 3001),
            Some(("127.0.0.1:3000".into(), "127.0.0.1:40000".into()))
        );
    }

    #[test]
    fn finds_a_unix_peer_path_and_a_pipe() {
        let path = std::env::temp_dir().join(format!("ctrace-fds-{}.sock", std::process::id()));
        let _ = fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let client = UnixStream::connect(&path).unwrap();
        let _server = listener.accept().unwrap();
        let me = std::process::id();
        let info = describe(me, client.as_raw_fd()).unwrap();
        assert_eq!(info.kind, "unix");
        assert_eq!(
            info.peer.as_deref(),
            Some(path.to_str().unwrap()),
            "{info:?}"
        );
        let mut p = [0i32; 2];
        unsafe { libc::pipe(p.as_mut_ptr()) };
        assert_eq!(describe(me, p[1]).unwrap().kind, "pipe");
        unsafe {
            libc::close(p[0]);
            libc::close(p[1]);
        }
        let _ = fs::remove_file(&path);
    }
}
