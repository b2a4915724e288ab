//! Commands for checking a box and for the VM tests, beside `run`:
//! `edgecam decode` (a bitstream through one decoder backend),
//! `edgecam subscribe` (what arrives on the broker) and `edgecam broker`
//! (the embedded MQTT broker on a fixed port).

pub mod decode;
pub mod subscribe;

/// Runs the embedded broker (the one `edgecam demo` uses) on
/// 127.0.0.1:`port` until the process ends.
pub fn broker(port: u16) -> anyhow::Result<()> {
    crate::demo::start_broker_on(port)?;
    eprintln!("edgecam broker: MQTT 5 on 127.0.0.1:{port}");
    loop {
        std::thread::park();
    }
}
