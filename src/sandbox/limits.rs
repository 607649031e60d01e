//! Resource limits of one tool call.

use std::time::Duration;

/// Resource limits applied to one tool call. Use [`Limits::default`] or
/// [`Limits::with_timeout_ms`] and adjust; values are clamped by [`Limits::normalized`]
/// (which [`super::Sandbox::run`] applies) to safe ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock limit of the script (the tool's `timeoutMs`), default 5 s, at most 60 s.
    /// Counted from the moment the call gets a worker, not while it queues.
    pub timeout: Duration,
    /// QuickJS heap limit in bytes (all JS objects, strings, array buffers), default 32 MiB.
    pub memory_bytes: usize,
    /// Maximum JS stack size in bytes, default 512 KiB (clamped to 64 KiB ..= 1 MiB, well
    /// below the 2 MiB stack of tokio's blocking threads).
    pub stack_bytes: usize,
    /// Maximum size of the returned value serialized as JSON, default 1 MiB.
    pub max_output_bytes: usize,
    /// Maximum captured console output in bytes, default 64 KiB; the rest is dropped and a
    /// truncation marker is appended.
    pub max_console_bytes: usize,
}

impl Limits {
    /// Default wall-clock limit.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Largest accepted wall-clock limit.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default heap limit.
    pub const DEFAULT_MEMORY_BYTES: usize = 32 << 20;
    /// Default stack limit.
    pub const DEFAULT_STACK_BYTES: usize = 512 << 10;
    /// Default cap on the returned JSON.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;
    /// Default cap on captured console output.
    pub const DEFAULT_MAX_CONSOLE_BYTES: usize = 64 << 10;

    const MIN_MEMORY_BYTES: usize = 2 << 20;
    const MAX_MEMORY_BYTES: usize = 1 << 30;
    const MIN_STACK_BYTES: usize = 64 << 10;
    const MAX_STACK_BYTES: usize = 1 << 20;

    /// Default limits with the tool's `timeoutMs` (`None` or `0` means the default 5 s).
    pub fn with_timeout_ms(timeout_ms: Option<u64>) -> Self {
        let timeout = match timeout_ms {
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ => Self::DEFAULT_TIMEOUT,
        };
        Limits {
            timeout,
            ..Limits::default()
        }
        .normalized()
    }

    /// Returns these limits clamped to the accepted ranges (timeout at most 60 s, heap
    /// 2 MiB ..= 1 GiB, stack 64 KiB ..= 1 MiB).
    pub fn normalized(self) -> Self {
        Limits {
            timeout: self.timeout.min(Self::MAX_TIMEOUT),
            memory_bytes: self
                .memory_bytes
                .clamp(Self::MIN_MEMORY_BYTES, Self::MAX_MEMORY_BYTES),
            stack_bytes: self
                .stack_bytes
                .clamp(Self::MIN_STACK_BYTES, Self::MAX_STACK_BYTES),
            max_output_bytes: self.max_output_bytes,
            max_console_bytes: self.max_console_bytes,
        }
    }

    /// The wall-clock limit in whole milliseconds, as shown in errors.
    pub fn timeout_ms(&self) -> u64 {
        u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Self::DEFAULT_TIMEOUT,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            stack_bytes: Self::DEFAULT_STACK_BYTES,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            max_console_bytes: Self::DEFAULT_MAX_CONSOLE_BYTES,
        }
    }
}
