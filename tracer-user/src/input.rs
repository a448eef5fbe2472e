//! Files the user names on the command line, read with a size limit: a path to /dev/zero, a
//! fifo nobody writes to or a directory ends in one line and exit 2, never in unbounded memory
//! or a hang. Output paths are tried before any probe is attached, so that a typo does not cost
//! the whole trace.

use std::{
    fs::{File, OpenOptions},
    io::Read as _,
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    path::Path,
};

use anyhow::Result;

use crate::out::Usage;

/// A saved JSON report (`ctrace report`): serve's /report of a busy node is a few MiB.
pub const REPORT_MAX: u64 = 64 << 20;
/// A seccomp profile: Docker's default is about 20 KiB.
pub const PROFILE_MAX: u64 = 1 << 20;
/// A PEM certificate chain or key.
pub const PEM_MAX: u64 = 1 << 20;
/// A bearer token file.
pub const TOKEN_MAX: u64 = 4 << 10;

/// "64 MiB", "4 KiB": how a limit is named in messages.
pub fn size_name(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}

/// Reads at most `max` bytes of `path` (`what` names the flag in messages). A fifo is read
/// until its writer closes it (`<(cmd)` works); one without a writer reads as empty.
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let name = path.display();
    // O_NONBLOCK: opening a fifo for reading would wait for a writer.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Usage(format!("{what} {name}: cannot read it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| Usage(format!("{what} {name}: {e}")))?;
    let ty = meta.file_type();
    if ty.is_dir() {
        return Err(Usage(format!("{what} {name}: is a directory, not a file")).into());
    }
    if ty.is_file() && meta.len() > max {
        return Err(too_big(what, path, max));
    }
    if ty.is_fifo() {
        blocking(&file)?;
    }
    let mut buf = Vec::new();
    (&file)
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Usage(format!("{what} {name}: cannot read it: {e}")))?;
    if buf.len() as u64 > max {
        return Err(too_big(what, path, max));
    }
    Ok(buf)
}

/// `read_bounded` as UTF-8 text.
pub fn read_text(path: &Path, max: u64, what: &str) -> Result<String> {
    String::from_utf8(read_bounded(path, max, what)?)
        .map_err(|_| Usage(format!("{what} {}: not UTF-8 text", path.display())).into())
}

fn too_big(what: &str, path: &Path, max: u64) -> anyhow::Error {
    Usage(format!(
        "{what} {}: larger than the {} ctrace reads",
        path.display(),
        size_name(max)
    ))
    .into()
}

/// Clears O_NONBLOCK, so that a fifo's reader waits for data its writer has not sent yet.
pub fn blocking(file: &File) -> Result<()> {
    use std::os::fd::AsRawFd as _;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above; only the file status flags change.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// Whether ctrace can write `path` at the end (`--html`, `--findings-out`): the file is opened
/// for writing now, and removed again if this made it.
pub fn check_writable(path: &Path, what: &str) -> Result<()> {
    let name = path.display();
    let existed = path.symlink_metadata().is_ok();
    if path.is_dir() {
        return Err(Usage(format!("{what} {name}: is a directory")).into());
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Usage(format!("{what} {name}: cannot write it: {e}")))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Whether ctrace can write files into the directory `dir` at the end (`--save-filters`): it is
/// made now with its missing parents and a file is made in it, then all that was made is
/// removed again.
pub fn check_dir_writable(dir: &Path, what: &str) -> Result<()> {
    let name = dir.display();
    // Made by this check, deepest first: removed again at the end.
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && a.symlink_metadata().is_err())
        .collect();
    if missing.is_empty() && !dir.is_dir() {
        return Err(Usage(format!("{what} {name}: not a directory")).into());
    }
    let tried = std::fs::create_dir_all(dir).and_then(|()| {
        let probe = dir.join(format!(".ctrace-try-{}", std::process::id()));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
    });
    for d in &missing {
        let _ = std::fs::remove_dir(d);
    }
    tried.map_err(|e| Usage(format!("{what} {name}: cannot write in it: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ctrace-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_file(&d);
        d
    }

    #[test]
    fn endless_and_odd_files_are_refused_with_the_limit() {
        let e = read_bounded(Path::new("/dev/zero"), 4096, "--x").unwrap_err();
        assert!(e.is::<Usage>() && e.to_string().contains("4 KiB"), "{e}");
        let e = read_bounded(Path::new("/"), 4096, "--x").unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let big = scratch("big");
        std::fs::write(&big, vec![b'a'; 5000]).unwrap();
        assert!(read_bounded(&big, 4096, "--x").is_err());
        assert_eq!(read_bounded(&big, 5000, "--x").unwrap().len(), 5000);
        std::fs::remove_file(&big).unwrap();
    }

    #[test]
    fn a_fifo_without_a_writer_reads_as_empty_at_once() {
        let fifo = scratch("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_bounded(&fifo, 4096, "--x").unwrap().is_empty());
        std::fs::remove_file(&fifo).unwrap();
    }

    #[test]
    fn an_output_path_is_tried_and_left_as_it_was() {
        let p = scratch("out.html");
        check_writable(&p, "--html").unwrap();
        assert!(!p.exists());
        assert!(check_writable(Path::new("/nonexistent-dir/x.html"), "--html").is_err());
        assert!(check_writable(Path::new("/"), "--html").is_err());
    }

    #[test]
    fn an_output_directory_is_tried_and_left_as_it_was() {
        let d = scratch("filters");
        check_dir_writable(&d.join("a/b"), "--save-filters").unwrap();
        assert!(!d.exists());
        std::fs::create_dir(&d).unwrap();
        check_dir_writable(&d, "--save-filters").unwrap();
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        std::fs::write(d.join("f"), b"").unwrap();
        for bad in [d.join("f"), d.join("f/sub"), "/proc/ctrace-x".into()] {
            let e = check_dir_writable(&bad, "--save-filters").unwrap_err();
            assert!(
                e.is::<Usage>() && e.to_string().contains("--save-filters"),
                "{e}"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
