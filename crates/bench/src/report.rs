//! Figures, the machine they were measured on, and the markdown written to the docs.

use crate::error::{BenchError, Result};
use std::path::Path;
use std::time::Duration;

pub const BEGIN: &str = "<!-- rkube-bench:begin (generated; edit outside these markers) -->";
pub const END: &str = "<!-- rkube-bench:end -->";

/// A generated region of the docs file, between two marker comments.
#[derive(Debug, Clone, Copy)]
pub struct Markers {
    pub begin: &'static str,
    pub end: &'static str,
}

/// The API-server and store figures.
pub const API: Markers = Markers {
    begin: BEGIN,
    end: END,
};
/// The scheduler / controllers / simulated-node figures.
pub const CONTROL_PLANE: Markers = Markers {
    begin: "<!-- rkube-bench:control-plane:begin (generated; edit outside these markers) -->",
    end: "<!-- rkube-bench:control-plane:end -->",
};

/// The real-node figures (kubelet, containerd, CNI).
pub const NODE: Markers = Markers {
    begin: "<!-- rkube-bench:node:begin (generated; edit outside these markers) -->",
    end: "<!-- rkube-bench:node:end -->",
};

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub ours: String,
    pub target: String,
    pub reference: String,
    /// Whether `ours` meets `target`; None when there is no target.
    pub met: Option<bool>,
    /// How it was measured (request, concurrency, bounds) and extra numbers.
    pub detail: String,
}

impl Figure {
    pub fn new(name: impl Into<String>, ours: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ours: ours.into(),
            target: "—".into(),
            reference: "—".into(),
            met: None,
            detail: String::new(),
        }
    }

    pub fn goal(mut self, target: &str, reference: &str, met: bool) -> Self {
        self.target = target.into();
        self.reference = reference.into();
        self.met = Some(met);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "",
        }
    }
}

/// Facts about the machine, gathered once.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub memory: String,
    pub disk: String,
    pub kernel: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|x| x.1))
        .map_or_else(|| "unknown".to_string(), |m| m.trim().to_string())
}

impl Machine {
    pub fn probe(work_dir: &Path) -> Self {
        let mem_kib = crate::server::parse_status_kib(&read("/proc/meminfo"), "MemTotal");
        let disk = std::process::Command::new("df")
            .args(["-PhT"])
            .arg(work_dir)
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let f: Vec<String> = text
                    .lines()
                    .nth(1)?
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                Some(format!(
                    "{} ({}, {} total, {} free) mounted at {}",
                    f.first()?,
                    f.get(1)?,
                    f.get(2)?,
                    f.get(4)?,
                    f.get(6)?
                ))
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu: cpu_model(&read("/proc/cpuinfo")),
            memory: mem_kib.map_or("unknown".into(), |k| {
                format!("{:.1} GiB", k as f64 / 1048576.0)
            }),
            disk,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        }
    }
}

/// Busy and total CPU time of the whole machine (all cores), from /proc/stat.
pub fn machine_cpu() -> Option<(Duration, Duration)> {
    parse_proc_stat(&read("/proc/stat"))
}

pub fn parse_proc_stat(stat: &str) -> Option<(Duration, Duration)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    let tick = |t: u64| Duration::from_millis(t * 10);
    Some((tick(total - idle), tick(total)))
}

/// Everything the markdown section needs.
pub struct Run<'a> {
    pub date: String,
    pub command: String,
    pub machine: &'a Machine,
    pub figures: &'a [Figure],
    pub sharing: String,
    pub wall: Duration,
}

pub fn markdown(run: &Run) -> String {
    let m = run.machine;
    let mut s = String::new();
    s.push_str(&format!("Measured {} with:\n\n```sh\n", run.date));
    s.push_str("cargo build --release -p rkube -p rkube-bench\n");
    s.push_str(&format!("{}\n```\n\n", run.command));
    s.push_str(&format!(
        "Machine: {} cores ({}), {} RAM, disk {}, Linux {}.\n\n",
        m.nproc, m.cpu, m.memory, m.disk, m.kernel
    ));
    s.push_str(&format!(
        "Load: {}. The benchmark client runs on the same cores as the server. Whole run: {:.0} s.\n\n",
        run.sharing,
        run.wall.as_secs_f64()
    ));
    s.push_str("| figure | ours | target | reference | |\n|---|---|---|---|---|\n");
    for f in run.figures.iter().filter(|f| f.met.is_some()) {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            f.name,
            f.ours,
            f.target,
            f.reference,
            f.verdict()
        ));
    }
    s.push_str("\nAll measurements of this run (each produced by the command above):\n\n");
    s.push_str("| figure | ours | how |\n|---|---|---|\n");
    for f in run.figures {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            f.name,
            f.ours,
            f.detail.replace('|', "\\|")
        ));
    }
    s
}

/// Replaces the generated section of `path` (or creates the file with it), keeping any
/// hand-written text around the markers.
pub fn write_section(path: &Path, body: &str, markers: Markers) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{}\n{body}{}", markers.begin, markers.end);
    let new = splice(&old, &section, markers).unwrap_or_else(|| {
        if old.is_empty() {
            format!("# rkube benchmarks\n\n{section}\n")
        } else {
            format!("{}\n\n{section}\n", old.trim_end())
        }
    });
    std::fs::write(path, new).map_err(|e| BenchError::io(path, e))
}

pub fn splice(old: &str, section: &str, markers: Markers) -> Option<String> {
    let start = old.find(markers.begin)?;
    let end = old[start..].find(markers.end)? + start + markers.end.len();
    Some(format!("{}{}{}", &old[..start], section, &old[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_keeps_text_around_markers() {
        let old = format!("intro\n{BEGIN}\nold numbers\n{END}\nnotes\n");
        let new = splice(&old, &format!("{BEGIN}\nnew\n{END}"), API).unwrap();
        assert_eq!(new, format!("intro\n{BEGIN}\nnew\n{END}\nnotes\n"));
        assert!(splice("no markers", "x", API).is_none());
        // The two sections are independent: replacing one leaves the other alone.
        let cp = CONTROL_PLANE;
        let both = format!("{new}{}\nold cp\n{}\n", cp.begin, cp.end);
        let replaced = splice(&both, &format!("{}\nnew cp\n{}", cp.begin, cp.end), cp).unwrap();
        assert!(replaced.contains("new cp") && !replaced.contains("old cp"));
        assert!(replaced.contains(&format!("{BEGIN}\nnew\n{END}")));
    }

    #[test]
    fn cpu_model_and_proc_stat() {
        assert_eq!(
            cpu_model("processor: 0\nmodel name\t: AMD EPYC 7B13\n"),
            "AMD EPYC 7B13"
        );
        assert_eq!(cpu_model(""), "unknown");
        let (busy, total) = parse_proc_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1\n").unwrap();
        assert_eq!(busy, Duration::from_millis(1500));
        assert_eq!(total, Duration::from_millis(10000));
    }

    #[test]
    fn table_lists_targets_and_misses() {
        let figs = vec![
            Figure::new("ready", "80 ms").goal("< 100 ms", "150 ms", true),
            Figure::new("LIST", "45 ms").goal("< 30 ms", "230 ms", false),
            Figure::new("fdatasync", "900/s").detail("a|b"),
        ];
        let machine = Machine::default();
        let md = markdown(&Run {
            date: "d".into(),
            command: "cmd".into(),
            machine: &machine,
            figures: &figs,
            sharing: "idle".into(),
            wall: Duration::from_secs(1),
        });
        assert!(md.contains("| ready | 80 ms | < 100 ms | 150 ms | met |"));
        assert!(md.contains("| LIST | 45 ms | < 30 ms | 230 ms | **missed** |"));
        assert!(md.contains("| fdatasync | 900/s | a\\|b |"));
        assert!(!md.contains("| fdatasync | 900/s | — |"));
    }
}
