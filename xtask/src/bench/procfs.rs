//! What `/proc` says of a process and its descendants: CPU time and
//! resident memory, read from outside while a benchmark runs.

/// A process and its live descendants.
fn process_tree(root: u32) -> Vec<u32> {
    let mut tree = Vec::new();
    let mut pending = vec![root];
    while let Some(pid) = pending.pop() {
        tree.push(pid);
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        pending.extend(
            children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    tree
}

/// CPU time (user + system) of a process and its live descendants, seconds.
pub fn process_tree_cpu_secs(root: u32) -> f64 {
    process_tree(root).into_iter().map(cpu_secs).sum()
}

/// CPU time (user + system) of one process, seconds; 0 once it is gone.
fn cpu_secs(pid: u32) -> f64 {
    // Linux counts in clock ticks of 1/100 s (USER_HZ) on every platform
    // this runs on.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start after its
    // ')'; utime and stime are fields 14 and 15 (here 11 and 12).
    let ticks: u64 = stat.rsplit_once(')').map_or(0, |(_, rest)| {
        rest.split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse::<u64>().ok())
            .sum()
    });
    ticks as f64 / TICKS_PER_SECOND
}

/// CPU time of every live process whose command (`/proc/<pid>/comm`) is
/// `command`, seconds: a server outside the benchmark's control, such as
/// the machine's Postgres with a backend per connection.
pub fn cpu_secs_of_command(command: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == command)
        })
        .map(cpu_secs)
        .sum()
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`…); 0 when it
/// cannot be read.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// RSS of a process and all its descendants, MiB.
pub fn process_tree_rss_mib(root: u32) -> f64 {
    let total_kib: u64 = process_tree(root)
        .into_iter()
        .map(|pid| status_kib(pid, "VmRSS:"))
        .sum();
    total_kib as f64 / 1024.0
}
