//! What the real-window test and the app benchmark share: a server, tauri-driver, the
//! app's window through WebDriver, and the CLI as a second device.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use krypt7_server::{Config, RunningServer, clock::Clock};

/// How long any one step may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// tauri-driver, stopped when dropped.
pub struct Driver(pub Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub async fn start_server(data: &Path, port: u16) -> Result<RunningServer> {
    let mut config = Config::new(data.to_path_buf());
    config.listen = format!("127.0.0.1:{port}").parse()?;
    krypt7_server::start(config, Clock::default()).await
}

/// The app's window through WebDriver; `shot` saves numbered screenshots.
pub struct Ui {
    pub c: Client,
    pub shots: PathBuf,
    pub n: u32,
}

/// A lookup that failed only because the page or the element was being replaced.
fn transient(e: &fantoccini::error::CmdError) -> bool {
    let e = e.to_string();
    e.contains("unload") || e.contains("Could not parse element info")
}

impl Ui {
    /// Waits for the element. A page being replaced (locking reloads it) can fail a
    /// lookup outright ("not called before the unload event"), and so can an element
    /// replaced while WebKit's driver describes it ("Could not parse element info"): it is
    /// tried again.
    pub async fn find(&self, css: &str) -> Result<Element> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match self
                .c
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Css(css))
                .await
            {
                Ok(e) => return Ok(e),
                Err(e) if tokio::time::Instant::now() < deadline && transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    self.save_failure().await;
                    return Err(e).with_context(|| format!("waiting for {css}"));
                }
            }
        }
    }

    /// What the window showed when a wait ran out, for whoever reads the failure.
    async fn save_failure(&self) {
        if let Ok(png) = self.c.screenshot().await {
            let _ = std::fs::write(self.shots.join("failed-waiting.png"), png);
        }
    }

    /// Scrolls the element to the middle of its scroll area. WebKit's WebDriver scrolls an
    /// element into view only when none of it shows: one whose top edge peeks out under the
    /// status bar would stay covered by it, and a click or typing would fail on it.
    async fn center(&self, e: &Element) -> Result<()> {
        let _ = self
            .c
            .execute(
                "arguments[0].scrollIntoView({block: 'center'})",
                vec![serde_json::to_value(e)?],
            )
            .await;
        Ok(())
    }

    /// Replaces the field's text; if the page re-rendered it in between, finds it again.
    pub async fn type_in(&self, css: &str, text: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let e = self.find(css).await?;
            self.center(&e).await?;
            let typed = match e.clear().await {
                Ok(()) if text.is_empty() => Ok(()),
                Ok(()) => e.send_keys(text).await,
                Err(err) => Err(err),
            };
            match typed {
                Ok(()) => return Ok(()),
                Err(err) if tokio::time::Instant::now() < deadline => {
                    eprintln!("retrying typing into {css}: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => {
                    self.save_failure().await;
                    // What is at the field's centre (something over it makes it not
                    // interactable).
                    let at = self
                        .c
                        .execute(
                            "const e = document.querySelector(arguments[0]); const r = e.getBoundingClientRect(); \
                             const o = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2); \
                             return JSON.stringify({rect: [r.x, r.y, r.width, r.height], view: [innerWidth, innerHeight], \
                             over: o ? o.outerHTML.slice(0, 200) : null, focused: document.activeElement?.outerHTML.slice(0, 200)});",
                            vec![css.into()],
                        )
                        .await
                        .ok();
                    return Err(err).with_context(|| format!("typing into {css} ({at:?})"));
                }
            }
        }
    }

    /// Clicks what `at` finds; if the page re-rendered it in between (a stale element),
    /// finds it again.
    async fn click_at(&self, at: Locator<'_>) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // A page being replaced (locking reloads it) fails the lookup: tried again.
            let e = match self.c.wait().at_most(WAIT).for_element(at).await {
                Ok(e) => e,
                Err(err) if tokio::time::Instant::now() < deadline && transient(&err) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(err) => {
                    self.save_failure().await;
                    return Err(err.into());
                }
            };
            self.center(&e).await?;
            match e.click().await {
                Ok(_) => return Ok(()),
                Err(err) if tokio::time::Instant::now() < deadline => {
                    eprintln!("retrying a click: {err:?}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => {
                    self.save_failure().await;
                    return Err(err.into());
                }
            }
        }
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.click_at(Locator::Css(css))
            .await
            .with_context(|| format!("clicking {css}"))
    }

    pub async fn click_xpath(&self, xpath: &str) -> Result<()> {
        self.click_at(Locator::XPath(xpath))
            .await
            .with_context(|| format!("clicking {xpath}"))
    }

    /// Clicks the first button whose text is `label`.
    pub async fn button(&self, label: &str) -> Result<()> {
        self.click_xpath(&format!("//button[normalize-space()='{label}']"))
            .await
            .with_context(|| format!("the button {label:?}"))
    }

    /// Clicks the button `label` until `css` appears (see [`Ui::click_until`]).
    pub async fn button_then(&self, label: &str, css: &str) -> Result<()> {
        self.click_until(
            &format!("//button[normalize-space()='{label}']"),
            Locator::Css(css),
        )
        .await
    }

    /// Clicks what `xpath` finds until `until` appears: a click that lands on an element the
    /// page was just replacing (a sync or status change re-renders the list and the pane)
    /// does nothing, so it is made again while `until` has not come.
    pub async fn click_until(&self, xpath: &str, until: Locator<'_>) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.click_xpath(xpath).await?;
            match self
                .c
                .wait()
                .at_most(Duration::from_secs(3))
                .for_element(until)
                .await
            {
                Ok(_) => return Ok(()),
                Err(_) if tokio::time::Instant::now() < deadline => {
                    eprintln!("{xpath} brought nothing new; clicking it again");
                }
                Err(e) => {
                    self.save_failure().await;
                    return Err(e).with_context(|| format!("{xpath} brought nothing new"));
                }
            }
        }
    }

    /// Waits until the element's text satisfies `ok`.
    pub async fn text_until(&self, css: &str, ok: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // A re-rendered (stale) element fails to read: the loop finds it again.
            let read = self.find(css).await?.text().await;
            if let Ok(t) = &read
                && ok(t)
            {
                return Ok(t.clone());
            }
            if tokio::time::Instant::now() > deadline {
                self.save_failure().await;
                match read {
                    Ok(t) => bail!("{css} still says {t:?}"),
                    Err(e) => bail!("{css} cannot be read: {e}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn shot(&mut self, name: &str) -> Result<()> {
        self.n += 1;
        let png = self.c.screenshot().await?;
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.n)), png)?;
        eprintln!("step {}: {name}", self.n);
        Ok(())
    }
}

/// Runs the `krypt7` CLI on device `dir` with `stdin`; its stdout, or an error with its
/// stderr.
pub fn cli(
    bin: &Path,
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &str,
) -> Result<String> {
    let mut c = Command::new(bin);
    c.arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn()?;
    use std::io::Write;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "krypt7 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until something answers HTTP on `port`.
pub async fn wait_for_http(port: u16) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..150 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            s.write_all(b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await?;
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).await.is_ok() && buf.starts_with(b"HTTP/1.1") {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("tauri-driver did not start on port {port}")
}

/// Starts tauri-driver with `env` (the app inherits it) and opens one WebDriver session on
/// `app`, which starts it.
pub async fn open_app(app: &str, env: &[(&str, &std::ffi::OsStr)]) -> Result<(Driver, Client)> {
    let (driver_port, native_port) = (free_port()?, free_port()?);
    let mut c = Command::new("tauri-driver");
    c.args(["--port", &driver_port.to_string()])
        .args(["--native-port", &native_port.to_string()]);
    for (k, v) in env {
        c.env(k, v);
    }
    let driver = Driver(
        c.spawn()
            .context("starting tauri-driver (cargo xtask test installs it)")?,
    );
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "wry".into());
    caps.insert(
        "tauri:options".into(),
        serde_json::json!({ "application": app }),
    );
    // Wait until tauri-driver answers, then open exactly one session (a retried session
    // request can leave a half-made session behind that blocks the real one).
    wait_for_http(driver_port).await?;
    let session = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .context("opening a WebDriver session on the app")?;
    Ok((driver, session))
}
