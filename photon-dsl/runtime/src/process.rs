//! What the kernel says about a process (Linux `/proc`): the memory figures
//! the end-to-end tests bound and the benchmarks print beside their peers'.

/// A process's memory from `/proc/<pid>/status`, in KiB: `field` is
/// `VmRSS` (now) or `VmHWM` (its peak so far). `None` when the process is
/// gone or the field is missing.
pub fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A process's peak resident memory so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    memory_kib(pid, "VmHWM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_peak_at_least_its_current_memory() {
        let pid = std::process::id();
        let now = memory_kib(pid, "VmRSS").expect("VmRSS");
        let peak = peak_rss_kib(pid).expect("VmHWM");
        assert!(now > 0 && peak >= now, "now {now} KiB, peak {peak} KiB");
        assert_eq!(memory_kib(pid, "NoSuchField"), None);
    }
}
