//! Replacements for the few WASI functions whose synchronous wasmtime-wasi
//! versions block on a tokio runtime (`wasi:io/streams` blocking writes and
//! stream drops, `wasi:io/poll`).
//!
//! The router calls plugins from tokio worker threads, where blocking on a
//! runtime panics. Rust's std reaches those functions for every `println!`
//! and for the message of every panic, so without these shims a plugin that
//! prints or panics would take the calling thread's task down with it. Here
//! stdout/stderr writes go to tracing and complete at once, drops are plain
//! deletes, and anything that would really have to wait traps instead:
//! plugins must not block a router thread (they have timers for waiting).

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::io::streams as async_streams;
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, StreamError, StreamResult};

use super::store::StoreData;

/// The WASI limit on one blocking write.
const MAX_BLOCKING_WRITE: usize = 4096;

pub(crate) struct Shim<'a> {
    table: &'a mut ResourceTable,
    plugin: &'a str,
}

struct ShimData;

impl HasData for ShimData {
    type Data<'a> = Shim<'a>;
}

fn shim(d: &mut StoreData) -> Shim<'_> {
    Shim { table: &mut d.table, plugin: &d.shared.name }
}

/// Installs the shims over what `wasmtime_wasi::p2::add_to_linker_sync` added.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    streams::add_to_linker::<StoreData, ShimData>(linker, shim)?;
    poll::add_to_linker::<StoreData, ShimData>(linker, shim)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn would_block(what: &str) -> StreamError {
    StreamError::trap(&format!("{what} would block, and plugins may not block: use the timers interface to wait"))
}

impl Shim<'_> {
    fn log_output(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BLOCKING_WRITE)]);
        let text = text.trim_end();
        if !text.is_empty() {
            tracing::debug!(plugin = self.plugin, "plugin output: {text}");
        }
    }

    fn write_now(&mut self, stream: &Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        if bytes.len() > MAX_BLOCKING_WRITE {
            return Err(StreamError::trap(&format!(
                "blocking write of {} bytes; WASI allows at most {MAX_BLOCKING_WRITE}",
                bytes.len()
            )));
        }
        self.log_output(&bytes);
        let s = self.table.get_mut(stream)?;
        if s.check_write()? < bytes.len() {
            return Err(would_block("this write"));
        }
        s.write(bytes.into())?;
        s.flush()?;
        Ok(())
    }
}

impl streams::Host for Shim<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        <ResourceTable as streams::Host>::convert_stream_error(self.table, err)
    }
}

impl streams::HostOutputStream for Shim<'_> {
    fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        // No cancel(): the only output streams a plugin can hold are the
        // discarding stdout/stderr, which have nothing in flight.
        self.table.delete(stream)?;
        Ok(())
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        Ok(self.table.get_mut(&stream)?.check_write()? as u64)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        self.log_output(&bytes);
        self.table.get_mut(&stream)?.write(bytes.into())
    }

    fn blocking_write_and_flush(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        self.write_now(&stream, bytes)
    }

    fn blocking_write_zeroes_and_flush(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_BLOCKING_WRITE {
            return Err(StreamError::trap(&format!(
                "blocking write of {len} zeroes; WASI allows at most {MAX_BLOCKING_WRITE}"
            )));
        }
        self.write_now(&stream, vec![0; len])
    }

    fn subscribe(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        <ResourceTable as async_streams::HostOutputStream>::subscribe(self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        <ResourceTable as async_streams::HostOutputStream>::write_zeroes(self.table, stream, len)
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        self.table.get_mut(&stream)?.flush()
    }

    fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        self.table.get_mut(&stream)?.flush()
    }

    fn splice(&mut self, dst: Resource<DynOutputStream>, src: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        <ResourceTable as async_streams::HostOutputStream>::splice(self.table, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        <ResourceTable as async_streams::HostOutputStream>::splice(self.table, dst, src, len)
    }
}

impl streams::HostInputStream for Shim<'_> {
    fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        <ResourceTable as async_streams::HostInputStream>::read(self.table, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        // stdin is closed, so this ends in Closed rather than waiting.
        let got = <ResourceTable as async_streams::HostInputStream>::read(self.table, stream, len)?;
        if got.is_empty() && len > 0 {
            return Err(would_block("this read"));
        }
        Ok(got)
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        <ResourceTable as async_streams::HostInputStream>::skip(self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        let got = <ResourceTable as async_streams::HostInputStream>::skip(self.table, stream, len)?;
        if got == 0 && len > 0 {
            return Err(would_block("this skip"));
        }
        Ok(got)
    }

    fn subscribe(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        <ResourceTable as async_streams::HostInputStream>::subscribe(self.table, stream)
    }
}

fn no_blocking() -> wasmtime::Error {
    wasmtime::format_err!("plugins may not block or poll (std::thread::sleep, sockets): use the timers interface")
}

impl poll::Host for Shim<'_> {
    fn poll(&mut self, _: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        Err(no_blocking())
    }
}

impl poll::HostPollable for Shim<'_> {
    fn ready(&mut self, _: Resource<DynPollable>) -> wasmtime::Result<bool> {
        Err(no_blocking())
    }

    fn block(&mut self, _: Resource<DynPollable>) -> wasmtime::Result<()> {
        Err(no_blocking())
    }

    fn drop(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.table.delete(p)?;
        Ok(())
    }
}
