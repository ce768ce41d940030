//! The idle lock, measured here on the wall clock rather than by a timer in the page: a
//! laptop that sleeps past the limit is locked as it wakes (the wall clock counts the time
//! asleep, where a monotonic clock or a page timer may not), and a page that stalls cannot
//! keep the vault open. The page reports activity ([`Idle::touch`]) and the limit; a task
//! and every command check [`Idle::due`].

use std::time::{Duration, SystemTime};

#[derive(Default)]
pub struct Idle(std::sync::Mutex<State>);

#[derive(Default)]
struct State {
    /// 0: never.
    minutes: u32,
    last: Option<SystemTime>,
}

impl Idle {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user did something at `now`.
    pub fn touch(&self, now: SystemTime) {
        self.state().last = Some(now);
    }

    /// The limit becomes `minutes` (0: never), counted from `now`.
    pub fn set_minutes(&self, minutes: u32, now: SystemTime) {
        let mut s = self.state();
        s.minutes = minutes;
        s.last = Some(now);
    }

    /// Whether the limit has passed since the last activity, by the wall clock. Once due, it
    /// counts afresh from `now` (the caller locks). A clock set back counts as activity.
    pub fn due(&self, now: SystemTime) -> bool {
        let mut s = self.state();
        let Some(last) = s.last else {
            return false;
        };
        if s.minutes == 0 {
            return false;
        }
        match now.duration_since(last) {
            Ok(idle) if idle >= Duration::from_secs(u64::from(s.minutes) * 60) => {
                s.last = Some(now);
                true
            }
            Ok(_) => false,
            Err(_) => {
                s.last = Some(now);
                false
            }
        }
    }
}

/// Checks the idle limit every few seconds and locks (telling the page) when it passes.
pub fn watch(app: tauri::AppHandle) {
    use tauri::Manager;
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let state = app.state::<crate::App>();
            if state.idle.due(SystemTime::now()) && state.lock_now().is_ok() {
                crate::shell::send(&app, crate::shell::Action::Lock);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn the_limit_counts_wall_clock_time_since_the_last_activity() {
        let idle = Idle::default();
        assert!(!idle.due(at(10_000)), "no limit set yet");
        idle.set_minutes(5, at(0));
        assert!(!idle.due(at(299)));
        idle.touch(at(200));
        assert!(!idle.due(at(499)));
        // Due once, then counted afresh.
        assert!(idle.due(at(500)));
        assert!(!idle.due(at(501)));
        // A machine asleep for an hour: due at the first look after waking.
        idle.touch(at(1000));
        assert!(idle.due(at(1000 + 3600)));
    }

    #[test]
    fn zero_is_never_and_a_clock_set_back_is_activity() {
        let idle = Idle::default();
        idle.set_minutes(0, at(0));
        assert!(!idle.due(at(1_000_000)));
        idle.set_minutes(1, at(1000));
        assert!(!idle.due(at(10)), "the clock went back");
        assert!(!idle.due(at(69)));
        assert!(idle.due(at(70)));
    }
}
