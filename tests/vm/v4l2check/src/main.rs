//! v4l2check: runs inside the edgecam test VM (tests/vm, case v4l2r_roundtrip) against the
//! kernel's virtual media drivers, using v4l2r built on the vendored UAPI headers
//! (third_party/v4l2-uapi). Prints `VMTEST PASS <name>` / `VMTEST FAIL <name> <reason>` per check
//! and exits non-zero if any check failed. Adapted from the V4L2-in-a-VM feasibility test:
//!  1. enumerate every /dev/video* node: VIDIOC_QUERYCAP + VIDIOC_ENUM_FMT per queue
//!  2. vivid capture: S_FMT, REQBUFS(MMAP), QUERYBUF+mmap, QBUF, STREAMON, DQBUF loop
//!  3. vicodec stateful encoder: NV12 -> FWHT (OUTPUT raw, CAPTURE bitstream)
//!  4. vicodec stateful decoder: FWHT -> raw, following the stateful decoder API
//!     (S_FMT OUTPUT, SUBSCRIBE_EVENT SOURCE_CHANGE, stream OUTPUT, wait event,
//!      G_FMT CAPTURE, REQBUFS CAPTURE, STREAMON CAPTURE, drain with DEC_CMD_STOP + LAST flag)
//!  5. v4l2loopback (if loaded): a writer sets MJPG on the OUTPUT side and write()s JPEG-framed
//!     payloads, a reader streams them back from the CAPTURE side with MMAP buffers, byte-exact
//!     (the "USB camera that delivers MJPEG" used for pass-through tests).
use anyhow::{anyhow, bail, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use v4l2r::ioctl::*;
use v4l2r::memory::{MemoryType, MmapHandle};
use v4l2r::{Format, PixelFormat, QueueType};

fn open_dev(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc_o_nonblock())
        .open(path)
        .with_context(|| format!("open {}", path.display()))
}

fn libc_o_nonblock() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}

fn video_nodes() -> Vec<PathBuf> {
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().into_string().ok()?;
                    let num: u32 = n.strip_prefix("video")?.parse().ok()?;
                    Some((num, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

struct NodeInfo {
    path: PathBuf,
    driver: String,
    card: String,
    caps: Capabilities,
    fmts: Vec<(QueueType, Vec<FmtDesc>)>,
}

fn queues_for(caps: Capabilities) -> Vec<QueueType> {
    let mut q = vec![];
    if caps.contains(Capabilities::VIDEO_CAPTURE) || caps.contains(Capabilities::VIDEO_M2M) {
        q.push(QueueType::VideoCapture);
    }
    if caps.contains(Capabilities::VIDEO_OUTPUT) || caps.contains(Capabilities::VIDEO_M2M) {
        q.push(QueueType::VideoOutput);
    }
    if caps.contains(Capabilities::VIDEO_CAPTURE_MPLANE) || caps.contains(Capabilities::VIDEO_M2M_MPLANE) {
        q.push(QueueType::VideoCaptureMplane);
    }
    if caps.contains(Capabilities::VIDEO_OUTPUT_MPLANE) || caps.contains(Capabilities::VIDEO_M2M_MPLANE) {
        q.push(QueueType::VideoOutputMplane);
    }
    q
}

fn probe(path: &Path) -> Result<NodeInfo> {
    let f = open_dev(path)?;
    let cap: Capability = querycap(&f).context("VIDIOC_QUERYCAP")?;
    let dcaps = cap.device_caps.unwrap_or(cap.capabilities);
    println!(
        "[enum] {}: driver={} card=\"{}\" bus={} version={:#x}\n[enum]   device_caps={:?}",
        path.display(),
        cap.driver,
        cap.card,
        cap.bus_info,
        cap.version,
        dcaps
    );
    let mut fmts = vec![];
    for q in queues_for(dcaps) {
        let list: Vec<FmtDesc> = FormatIterator::new(&f, q).collect();
        let names: Vec<String> = list.iter().map(|d| format!("{}", d.pixelformat)).collect();
        println!("[enum]   {:?}: {} formats: {}", q, list.len(), names.join(" "));
        for d in list.iter().filter(|d| !d.flags.is_empty()) {
            println!("[enum]     {}", d);
        }
        fmts.push((q, list));
    }
    Ok(NodeInfo {
        path: path.to_owned(),
        driver: cap.driver,
        card: cap.card,
        caps: dcaps,
        fmts,
    })
}

impl NodeInfo {
    fn has_fmt(&self, q: QueueType, fourcc: &[u8; 4]) -> bool {
        let pf: PixelFormat = fourcc.into();
        self.fmts
            .iter()
            .any(|(qq, l)| *qq == q && l.iter().any(|d| d.pixelformat == pf))
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn wait(f: &File, flags: PollFlags, ms: u16) -> Result<PollFlags> {
    let mut fds = [PollFd::new(f.as_fd(), flags)];
    let n = poll(&mut fds, PollTimeout::from(ms))?;
    if n == 0 {
        return Ok(PollFlags::empty());
    }
    Ok(fds[0].revents().unwrap_or(PollFlags::empty()))
}

// ---------------------------------------------------------------- vivid capture
fn vivid_capture(node: &NodeInfo, fourcc: &[u8; 4], w: u32, h: u32, nframes: usize) -> Result<()> {
    let mut f = open_dev(&node.path)?;
    let q = QueueType::VideoCapture;
    // frame sizes for the format (vivid's webcam input gives a discrete list)
    let mut sizes = vec![];
    for i in 0.. {
        match enum_frame_sizes::<v4l2r::bindings::v4l2_frmsizeenum>(&f, i, fourcc.into()) {
            Ok(s) => match s.size() {
                Some(FrmSizeTypes::Discrete(d)) => sizes.push(format!("{}x{}", d.width, d.height)),
                Some(FrmSizeTypes::StepWise(s)) => sizes.push(format!(
                    "{}..{}x{}..{}",
                    s.min_width, s.max_width, s.min_height, s.max_height
                )),
                None => {}
            },
            Err(_) => break,
        }
    }
    println!("[vivid] {} frame sizes: {}", PixelFormat::from(fourcc), sizes.join(" "));
    let want = Format {
        width: w,
        height: h,
        pixelformat: fourcc.into(),
        plane_fmt: vec![],
    };
    let got: Format = s_fmt(&mut f, (q, &want)).context("S_FMT capture")?;
    println!("[vivid] S_FMT -> {:?}", got);
    let n: usize = reqbufs(&f, q, MemoryType::Mmap, 4, MemoryConsistency::empty()).context("REQBUFS")?;
    let mut maps = vec![];
    for i in 0..n {
        let qb: QueryBuffer = querybuf(&f, q, i).context("QUERYBUF")?;
        maps.push(mmap(&f, qb.planes[0].mem_offset, qb.planes[0].length).context("mmap")?);
        let mut b = QBuffer::<MmapHandle>::new(q, i as u32);
        b.planes = vec![QBufPlane::new(0)];
        qbuf::<_, ()>(&f, b).context("QBUF")?;
    }
    println!("[vivid] REQBUFS: {} mmap buffers of {} bytes", n, maps[0].size());
    streamon(&f, q).context("STREAMON")?;
    let t0 = Instant::now();
    let mut got_frames = 0;
    let mut hashes = std::collections::HashSet::new();
    while got_frames < nframes {
        let ev = wait(&f, PollFlags::POLLIN, 3000)?;
        if ev.is_empty() {
            bail!("timeout waiting for vivid frame");
        }
        let b: V4l2Buffer = dqbuf(&f, q).context("DQBUF")?;
        let used = *b.get_first_plane().bytesused as usize;
        let data = &maps[b.index() as usize].as_ref()[..used];
        let hsh = fnv1a(data);
        hashes.insert(hsh);
        let ts = b.timestamp();
        println!(
            "[vivid] frame seq={} idx={} bytesused={} ts={}.{:06} flags={:?} fnv={:016x} first8={:02x?}",
            b.sequence(),
            b.index(),
            used,
            ts.tv_sec,
            ts.tv_usec,
            b.flags(),
            hsh,
            &data[..8.min(data.len())]
        );
        let mut rb = QBuffer::<MmapHandle>::new(q, b.index());
        rb.planes = vec![QBufPlane::new(0)];
        qbuf::<_, ()>(&f, rb).context("re-QBUF")?;
        got_frames += 1;
    }
    let el = t0.elapsed();
    streamoff(&f, q)?;
    drop(maps);
    reqbufs::<()>(&f, q, MemoryType::Mmap, 0, MemoryConsistency::empty())?;
    println!(
        "[vivid] OK: streamed {} {} frames in {:.2}s ({:.1} fps), {} distinct contents",
        got_frames,
        PixelFormat::from(fourcc),
        el.as_secs_f64(),
        got_frames as f64 / el.as_secs_f64(),
        hashes.len()
    );
    Ok(())
}

// ---------------------------------------------------------------- raw test frames
fn gen_nv12(w: usize, h: usize, i: usize) -> Vec<u8> {
    let mut v = vec![0u8; w * h * 3 / 2];
    for y in 0..h {
        for x in 0..w {
            // moving diagonal gradient + a moving box
            let mut p = ((x + y + i * 8) % 256) as u8;
            if x >= (i * 10) % w && x < (i * 10) % w + 40 && y >= 40 && y < 100 {
                p = 235;
            }
            v[y * w + x] = p;
        }
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            v[w * h + y * w + 2 * x] = (128 + (x as i32 - (w / 4) as i32) / 4) as u8;
            v[w * h + y * w + 2 * x + 1] = (128 + (y as i32 - (h / 4) as i32) / 4) as u8;
        }
    }
    v
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let d = *x as f64 - *y as f64;
            d * d
        })
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

// ---------------------------------------------------------------- vicodec encoder
fn vicodec_encode(node: &NodeInfo, w: u32, h: u32, frames: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
    let mut f = open_dev(&node.path)?;
    let (oq, cq) = (QueueType::VideoOutput, QueueType::VideoCapture);
    // Encoder: CAPTURE (coded) format first, then OUTPUT (raw) format.
    let cfmt: Format = g_fmt(&f, cq)?;
    let cfmt = Format { pixelformat: b"FWHT".into(), ..cfmt };
    let cfmt: Format = s_fmt(&mut f, (cq, &cfmt)).context("enc S_FMT CAPTURE FWHT")?;
    let ofmt = Format { width: w, height: h, pixelformat: b"NV12".into(), plane_fmt: vec![] };
    let ofmt: Format = s_fmt(&mut f, (oq, &ofmt)).context("enc S_FMT OUTPUT NV12")?;
    if (ofmt.width, ofmt.height, ofmt.plane_fmt[0].bytesperline) != (w, h, w) {
        bail!("encoder adjusted OUTPUT format to {:?} (vicodec min is 640x360)", ofmt);
    }
    let cfmt2: Format = g_fmt(&f, cq)?;
    println!("[enc] OUTPUT {:?}\n[enc] CAPTURE {:?} (before: {})", ofmt, cfmt2, cfmt.pixelformat);
    let no: usize = reqbufs(&f, oq, MemoryType::Mmap, 2, MemoryConsistency::empty())?;
    let nc: usize = reqbufs(&f, cq, MemoryType::Mmap, 2, MemoryConsistency::empty())?;
    let mut omaps = vec![];
    for i in 0..no {
        let qb: QueryBuffer = querybuf(&f, oq, i)?;
        omaps.push(mmap(&f, qb.planes[0].mem_offset, qb.planes[0].length)?);
    }
    let mut cmaps = vec![];
    for i in 0..nc {
        let qb: QueryBuffer = querybuf(&f, cq, i)?;
        cmaps.push(mmap(&f, qb.planes[0].mem_offset, qb.planes[0].length)?);
        let mut b = QBuffer::<MmapHandle>::new(cq, i as u32);
        b.planes = vec![QBufPlane::new(0)];
        qbuf::<_, ()>(&f, b)?;
    }
    streamon(&f, oq)?;
    streamon(&f, cq)?;
    let mut out = vec![];
    let mut free_out: Vec<u32> = (0..no as u32).collect();
    let mut next = 0usize;
    let t0 = Instant::now();
    while out.len() < frames.len() {
        if next < frames.len() {
            if let Some(i) = free_out.pop() {
                let m = &mut omaps[i as usize];
                m.as_mut()[..frames[next].len()].copy_from_slice(&frames[next]);
                let mut b = QBuffer::<MmapHandle>::new(oq, i);
                b.planes = vec![QBufPlane::new(frames[next].len())];
                qbuf::<_, ()>(&f, b.set_timestamp(next as i64, 0)).context("enc QBUF OUTPUT")?;
                next += 1;
                continue;
            }
        }
        let ev = wait(&f, PollFlags::POLLIN | PollFlags::POLLOUT, 3000)?;
        if ev.is_empty() {
            bail!("encoder timeout");
        }
        if ev.contains(PollFlags::POLLOUT) {
            if let Ok(b) = dqbuf::<V4l2Buffer>(&f, oq) {
                free_out.push(b.index());
            }
        }
        if ev.contains(PollFlags::POLLIN) {
            if let Ok(b) = dqbuf::<V4l2Buffer>(&f, cq) {
                let used = *b.get_first_plane().bytesused as usize;
                let data = cmaps[b.index() as usize].as_ref()[..used].to_vec();
                println!(
                    "[enc] coded frame seq={} ts={} bytes={} magic={:02x?} flags={:?}",
                    b.sequence(),
                    b.timestamp().tv_sec,
                    used,
                    &data[..8],
                    b.flags()
                );
                out.push(data);
                let mut rb = QBuffer::<MmapHandle>::new(cq, b.index());
                rb.planes = vec![QBufPlane::new(0)];
                qbuf::<_, ()>(&f, rb)?;
            }
        }
    }
    streamoff(&f, cq)?;
    streamoff(&f, oq)?;
    let total: usize = out.iter().map(|v| v.len()).sum();
    println!(
        "[enc] OK: encoded {} frames {}x{} NV12 -> FWHT, {} bytes total ({:.1}x smaller), {:.2}s",
        out.len(),
        w,
        h,
        total,
        (frames.len() * frames[0].len()) as f64 / total as f64,
        t0.elapsed().as_secs_f64()
    );
    Ok(out)
}

// ---------------------------------------------------------------- vicodec stateful decoder
fn vicodec_decode(node: &NodeInfo, bitstream: &[u8], chunk: usize, originals: &[Vec<u8>], w: usize, h: usize) -> Result<usize> {
    let mut f = open_dev(&node.path)?;
    let (oq, cq) = (QueueType::VideoOutput, QueueType::VideoCapture);
    // 1. OUTPUT format = coded format. Size unknown to the client: leave 0 / placeholder.
    let ofmt = Format { width: 0, height: 0, pixelformat: b"FWHT".into(), plane_fmt: vec![] };
    let ofmt: Format = s_fmt(&mut f, (oq, &ofmt)).context("dec S_FMT OUTPUT FWHT")?;
    println!("[dec] step1 S_FMT OUTPUT -> {:?}", ofmt);
    // 2. subscribe to source change + EOS
    subscribe_event(&f, EventType::SourceChange(0), SubscribeEventFlags::empty()).context("SUBSCRIBE_EVENT src change")?;
    subscribe_event(&f, EventType::Eos, SubscribeEventFlags::empty()).context("SUBSCRIBE_EVENT eos")?;
    println!("[dec] step2 subscribed V4L2_EVENT_SOURCE_CHANGE + EOS");
    // 3. OUTPUT buffers, stream on OUTPUT only
    let no: usize = reqbufs(&f, oq, MemoryType::Mmap, 4, MemoryConsistency::empty())?;
    let mut omaps = vec![];
    for i in 0..no {
        let qb: QueryBuffer = querybuf(&f, oq, i)?;
        omaps.push(mmap(&f, qb.planes[0].mem_offset, qb.planes[0].length)?);
    }
    let obuf_size = omaps[0].size();
    let chunk = chunk.min(obuf_size);
    streamon(&f, oq)?;
    println!("[dec] step3 REQBUFS OUTPUT {} x {} bytes, STREAMON OUTPUT; feeding {} bytes in {}-byte chunks", no, obuf_size, bitstream.len(), chunk);
    let mut free_out: Vec<u32> = (0..no as u32).rev().collect();
    let mut pos = 0usize;
    let mut ts = 0i64;
    let mut queue_chunk = |f: &File, free_out: &mut Vec<u32>, omaps: &mut Vec<PlaneMapping>, pos: &mut usize| -> Result<bool> {
        if *pos >= bitstream.len() {
            return Ok(false);
        }
        let Some(i) = free_out.pop() else { return Ok(false) };
        let end = (*pos + chunk).min(bitstream.len());
        let n = end - *pos;
        omaps[i as usize].as_mut()[..n].copy_from_slice(&bitstream[*pos..end]);
        let mut b = QBuffer::<MmapHandle>::new(oq, i);
        b.planes = vec![QBufPlane::new(n)];
        qbuf::<_, ()>(f, b.set_timestamp(ts, 0)).context("dec QBUF OUTPUT")?;
        ts += 1;
        *pos = end;
        Ok(true)
    };
    while queue_chunk(&f, &mut free_out, &mut omaps, &mut pos)? {}
    // 4. wait for SOURCE_CHANGE (POLLPRI)
    let t0 = Instant::now();
    loop {
        let ev = wait(&f, PollFlags::POLLPRI | PollFlags::POLLOUT, 3000)?;
        if ev.is_empty() {
            bail!("timeout waiting for SOURCE_CHANGE");
        }
        if ev.contains(PollFlags::POLLPRI) {
            match dqevent::<Event>(&f) {
                Ok(Event::SrcChangeEvent(c)) => {
                    println!("[dec] step4 got V4L2_EVENT_SOURCE_CHANGE changes={:?} after {:.3}s", c, t0.elapsed().as_secs_f64());
                    break;
                }
                Ok(e) => println!("[dec] event {:?}", e),
                Err(e) => println!("[dec] dqevent err {:?}", e),
            }
        }
        if ev.contains(PollFlags::POLLOUT) {
            if let Ok(b) = dqbuf::<V4l2Buffer>(&f, oq) {
                free_out.push(b.index());
                queue_chunk(&f, &mut free_out, &mut omaps, &mut pos)?;
            }
        }
    }
    // 5. G_FMT CAPTURE, min buffers, REQBUFS CAPTURE, STREAMON CAPTURE
    let cfmt: Format = g_fmt(&f, cq).context("G_FMT CAPTURE")?;
    println!("[dec] step5 G_FMT CAPTURE -> {:?}", cfmt);
    let cap_formats: Vec<String> = FormatIterator::new(&f, cq).map(|d| format!("{}", d.pixelformat)).collect();
    println!("[dec]   CAPTURE formats now offered: {}", cap_formats.join(" "));
    let cfmt: Format = if cfmt.pixelformat != PixelFormat::from(b"NV12") && cap_formats.iter().any(|s| s == "NV12") {
        let want = Format { pixelformat: b"NV12".into(), ..cfmt.clone() };
        let r: Format = s_fmt(&mut f, (cq, &want)).context("S_FMT CAPTURE NV12")?;
        println!("[dec]   S_FMT CAPTURE NV12 -> {:?}", r);
        r
    } else {
        cfmt
    };
    let min_cap = g_ctrl(&f, v4l2r::bindings::V4L2_CID_MIN_BUFFERS_FOR_CAPTURE).unwrap_or(-1);
    let want_bufs = if min_cap > 0 { min_cap as u32 + 2 } else { 4 };
    let nc: usize = reqbufs(&f, cq, MemoryType::Mmap, want_bufs, MemoryConsistency::empty())?;
    let mut cmaps = vec![];
    for i in 0..nc {
        let qb: QueryBuffer = querybuf(&f, cq, i)?;
        cmaps.push(mmap(&f, qb.planes[0].mem_offset, qb.planes[0].length)?);
        let mut b = QBuffer::<MmapHandle>::new(cq, i as u32);
        b.planes = vec![QBufPlane::new(0)];
        qbuf::<_, ()>(&f, b)?;
    }
    streamon(&f, cq)?;
    println!("[dec] step6 MIN_BUFFERS_FOR_CAPTURE={} -> REQBUFS CAPTURE {} mmap bufs, STREAMON CAPTURE", min_cap, nc);
    // 6. decode loop; after all input queued send V4L2_DEC_CMD_STOP, drain until LAST
    let bpl = cfmt.plane_fmt[0].bytesperline as usize;
    let mut decoded = 0usize;
    let mut stop_sent = false;
    let mut min_psnr = f64::MAX;
    loop {
        if !stop_sent && pos >= bitstream.len() {
            decoder_cmd::<_, ()>(&f, DecoderCmd::stop()).map_err(|e| anyhow!("DEC_CMD_STOP: {:?}", e))?;
            stop_sent = true;
            println!("[dec] step7 all {} bytes queued, sent V4L2_DEC_CMD_STOP", bitstream.len());
        }
        let ev = wait(&f, PollFlags::POLLIN | PollFlags::POLLOUT | PollFlags::POLLPRI, 3000)?;
        if ev.is_empty() {
            bail!("decode timeout (decoded {} so far)", decoded);
        }
        if ev.contains(PollFlags::POLLPRI) {
            if let Ok(e) = dqevent::<Event>(&f) {
                println!("[dec] event {:?}", e);
            }
        }
        if ev.contains(PollFlags::POLLOUT) {
            while let Ok(b) = dqbuf::<V4l2Buffer>(&f, oq) {
                free_out.push(b.index());
            }
            while queue_chunk(&f, &mut free_out, &mut omaps, &mut pos)? {}
        }
        if ev.contains(PollFlags::POLLIN) {
            let b: V4l2Buffer = match dqbuf(&f, cq) {
                Ok(b) => b,
                Err(e) => {
                    println!("[dec] dqbuf capture: {:?}", e);
                    break;
                }
            };
            let used = *b.get_first_plane().bytesused as usize;
            let last = b.flags().contains(BufferFlags::LAST);
            if used > 0 {
                let data = &cmaps[b.index() as usize].as_ref()[..used];
                // compare luma plane against the original
                let orig = &originals[decoded];
                let mut luma = Vec::with_capacity(w * h);
                for y in 0..h {
                    luma.extend_from_slice(&data[y * bpl..y * bpl + w]);
                }
                let p = psnr(&luma, &orig[..w * h]);
                min_psnr = min_psnr.min(p);
                println!(
                    "[dec] decoded frame seq={} bytes={} ts={} flags={:?} Y-PSNR vs original={:.1} dB",
                    b.sequence(),
                    used,
                    b.timestamp().tv_sec,
                    b.flags(),
                    p
                );
                decoded += 1;
            }
            if last {
                println!("[dec] step8 got CAPTURE buffer with V4L2_BUF_FLAG_LAST (bytes={}) -> drained", used);
                break;
            }
            let mut rb = QBuffer::<MmapHandle>::new(cq, b.index());
            rb.planes = vec![QBufPlane::new(0)];
            qbuf::<_, ()>(&f, rb)?;
        }
    }
    streamoff(&f, cq)?;
    streamoff(&f, oq)?;
    if decoded > 0 && min_psnr < 28.0 {
        bail!("decoded picture too far from the original: min Y-PSNR {:.1} dB", min_psnr);
    }
    println!(
        "[dec] OK: stateful decode {} frames ({}), min Y-PSNR {:.1} dB, {:.2}s",
        decoded,
        cfmt.pixelformat,
        min_psnr,
        t0.elapsed().as_secs_f64()
    );
    Ok(decoded)
}

// ---------------------------------------------------------------- v4l2loopback MJPEG
/// A JPEG-framed payload (SOI ... EOI) whose body encodes the frame index; sizes vary per frame.
fn fake_jpeg(i: usize) -> Vec<u8> {
    let body = 3000 + (i * 997) % 5000;
    let mut v = vec![0xff, 0xd8, 0xff, 0xe0];
    v.extend((0..body).map(|k| ((k * 31 + i * 7) % 251) as u8));
    v.extend_from_slice(&[0xff, 0xd9]);
    v
}

fn loopback_mjpeg(node: &NodeInfo, nframes: usize) -> Result<()> {
    use std::io::Write;
    let (w, h) = (640u32, 480u32);
    // writer: OUTPUT format, first frame written before the reader starts (exclusive_caps=1
    // only announces CAPTURE once a writer is active)
    let mut wr = open_dev(&node.path)?;
    let want = Format { width: w, height: h, pixelformat: b"MJPG".into(), plane_fmt: vec![] };
    let got: Format = s_fmt(&mut wr, (QueueType::VideoOutput, &want)).context("writer S_FMT OUTPUT MJPG")?;
    println!("[loop] writer S_FMT OUTPUT -> {:?}", got);
    if got.pixelformat != PixelFormat::from(b"MJPG") {
        bail!("loopback refused MJPG: {:?}", got);
    }
    wr.write_all(&fake_jpeg(0)).context("write frame 0")?;
    let rd = open_dev(&node.path)?;
    let cap: Capability = querycap(&rd)?;
    let dcaps = cap.device_caps.unwrap_or(cap.capabilities);
    if !dcaps.contains(Capabilities::VIDEO_CAPTURE) {
        bail!("no VIDEO_CAPTURE capability with an active writer: {:?}", dcaps);
    }
    let q = QueueType::VideoCapture;
    let cfmt: Format = g_fmt(&rd, q).context("reader G_FMT CAPTURE")?;
    println!("[loop] reader G_FMT CAPTURE -> {:?}", cfmt);
    if cfmt.pixelformat != PixelFormat::from(b"MJPG") || (cfmt.width, cfmt.height) != (w, h) {
        bail!("reader sees {:?}, expected MJPG {}x{}", cfmt, w, h);
    }
    let n: usize = reqbufs(&rd, q, MemoryType::Mmap, 4, MemoryConsistency::empty()).context("REQBUFS")?;
    let mut maps = vec![];
    for i in 0..n {
        let qb: QueryBuffer = querybuf(&rd, q, i).context("QUERYBUF")?;
        maps.push(mmap(&rd, qb.planes[0].mem_offset, qb.planes[0].length).context("mmap")?);
        let mut b = QBuffer::<MmapHandle>::new(q, i as u32);
        b.planes = vec![QBufPlane::new(0)];
        qbuf::<_, ()>(&rd, b).context("QBUF")?;
    }
    streamon(&rd, q).context("STREAMON")?;
    let t0 = Instant::now();
    let mut ok = 0;
    let mut skipped = 0;
    for i in 1..=nframes {
        let frame = fake_jpeg(i);
        wr.write_all(&frame).with_context(|| format!("write frame {}", i))?;
        // v4l2loopback hands a new reader what was written before its REQBUFS first (with
        // bytesused reset to sizeimage): skip buffers older than the frame just written.
        loop {
            if wait(&rd, PollFlags::POLLIN, 3000)?.is_empty() {
                bail!("timeout waiting for loopback frame {}", i);
            }
            let b: V4l2Buffer = dqbuf(&rd, q).context("DQBUF")?;
            let used = *b.get_first_plane().bytesused as usize;
            let seq = b.sequence() as usize;
            let data = &maps[b.index() as usize].as_ref()[..used];
            let matches = data == frame.as_slice();
            if seq == i && !matches {
                bail!(
                    "frame {}: got {} bytes (seq {}), expected {} bytes, first8={:02x?}",
                    i, used, seq, frame.len(), &data[..8.min(used)]
                );
            }
            let mut rb = QBuffer::<MmapHandle>::new(q, b.index());
            rb.planes = vec![QBufPlane::new(0)];
            qbuf::<_, ()>(&rd, rb).context("re-QBUF")?;
            if seq == i {
                ok += 1;
                break;
            }
            if seq > i || skipped > 8 {
                bail!("frame {}: got sequence {} ({} stale buffers skipped)", i, seq, skipped);
            }
            println!("[loop] skipped stale buffer seq={} bytes={}", seq, used);
            skipped += 1;
        }
    }
    streamoff(&rd, q)?;
    println!(
        "[loop] OK: {} MJPG frames written and read back byte-exact in {:.2}s",
        ok,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------- reporting
struct Report {
    failures: usize,
    passes: usize,
}

impl Report {
    fn check(&mut self, name: &str, r: Result<()>) {
        match r {
            Ok(()) => {
                self.passes += 1;
                println!("VMTEST PASS v4l2check-{}", name);
            }
            Err(e) => {
                self.failures += 1;
                // one line: the runner greps it
                let msg = format!("{:#}", e).replace('\n', " ");
                println!("VMTEST FAIL v4l2check-{} {}", name, msg);
            }
        }
    }
}

// ---------------------------------------------------------------- tools for edgecam's cases
//
//   v4l2check fwht-encode OUT WxH:N [WxH:N ...]   vicodec-encode gen_nv12 frames (frame numbers
//                                                 run on across segments) into one FWHT stream
//   v4l2check psnr DECODED.i420 MIN_DB WxH:N ...  luma PSNR of packed I420 pictures against the
//                                                 same gen_nv12 frames; fails below MIN_DB
//   v4l2check mjpeg-feed DEVICE FPS SECONDS JPEG...  write the JPEG files, in turn, into a
//                                                 v4l2loopback node as an MJPG "camera"
//   v4l2check strip-dht IN OUT                    the JPEG without its Huffman tables

fn segments(args: &[String]) -> Result<Vec<(usize, usize, usize)>> {
    args.iter()
        .map(|a| {
            let (size, n) = a.split_once(':').ok_or_else(|| anyhow!("{a}: expected WxH:N"))?;
            let (w, h) = size.split_once('x').ok_or_else(|| anyhow!("{a}: expected WxH:N"))?;
            Ok((w.parse()?, h.parse()?, n.parse()?))
        })
        .collect()
}

fn all_nodes() -> Vec<NodeInfo> {
    video_nodes().iter().filter_map(|p| probe(p).ok()).collect()
}

fn tool_fwht_encode(args: &[String]) -> Result<()> {
    let (out, segs) = args.split_first().ok_or_else(|| anyhow!("usage: fwht-encode OUT WxH:N..."))?;
    let nodes = all_nodes();
    let enc = nodes
        .iter()
        .find(|n| n.driver == "vicodec" && n.has_fmt(QueueType::VideoCapture, b"FWHT"))
        .ok_or_else(|| anyhow!("no vicodec encoder"))?;
    let mut stream = Vec::new();
    let mut index = 0;
    for (w, h, n) in segments(segs)? {
        let frames: Vec<Vec<u8>> = (index..index + n).map(|i| gen_nv12(w, h, i)).collect();
        for f in vicodec_encode(enc, w as u32, h as u32, &frames)? {
            stream.extend_from_slice(&f);
        }
        index += n;
    }
    std::fs::write(out, &stream).with_context(|| format!("write {out}"))?;
    println!("[fwht-encode] {} frames, {} bytes -> {out}", index, stream.len());
    Ok(())
}

fn tool_psnr(args: &[String]) -> Result<()> {
    if args.len() < 3 {
        bail!("usage: psnr DECODED.i420 MIN_DB WxH:N...");
    }
    let data = std::fs::read(&args[0]).with_context(|| format!("read {}", args[0]))?;
    let min_db: f64 = args[1].parse()?;
    let mut pos = 0;
    let mut index = 0;
    let mut worst = f64::MAX;
    for (w, h, n) in segments(&args[2..])? {
        let frame = w * h + 2 * w.div_ceil(2) * h.div_ceil(2);
        for _ in 0..n {
            let got = data
                .get(pos..pos + frame)
                .ok_or_else(|| anyhow!("decoded file ends at picture {index} ({w}x{h}); {} bytes", data.len()))?;
            let p = psnr(&got[..w * h], &gen_nv12(w, h, index)[..w * h]);
            println!("[psnr] picture {index} {w}x{h}: Y-PSNR {p:.1} dB");
            worst = worst.min(p);
            pos += frame;
            index += 1;
        }
    }
    if pos != data.len() {
        bail!("{} bytes left over after {index} pictures", data.len() - pos);
    }
    println!("[psnr] {index} pictures, min Y-PSNR {worst:.1} dB (need {min_db})");
    if worst < min_db {
        bail!("min Y-PSNR {worst:.1} dB below {min_db}");
    }
    Ok(())
}

fn tool_mjpeg_feed(args: &[String]) -> Result<()> {
    use std::io::Write;
    if args.len() < 4 {
        bail!("usage: mjpeg-feed DEVICE FPS SECONDS JPEG...");
    }
    let dev = Path::new(&args[0]);
    let fps: f64 = args[1].parse()?;
    let seconds: f64 = args[2].parse()?;
    let jpegs: Vec<Vec<u8>> = args[3..]
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("read {p}")))
        .collect::<Result<_>>()?;
    // Size from the first frame's SOF0 header.
    let j = &jpegs[0];
    let sof = (2..j.len() - 8)
        .find(|&i| j[i] == 0xFF && j[i + 1] == 0xC0)
        .ok_or_else(|| anyhow!("{}: no SOF0", args[3]))?;
    let h = u16::from_be_bytes([j[sof + 5], j[sof + 6]]) as u32;
    let w = u16::from_be_bytes([j[sof + 7], j[sof + 8]]) as u32;
    let mut wr = open_dev(dev)?;
    let want = Format { width: w, height: h, pixelformat: b"MJPG".into(), plane_fmt: vec![] };
    let got: Format = s_fmt(&mut wr, (QueueType::VideoOutput, &want)).context("S_FMT OUTPUT MJPG")?;
    println!("[feed] {} as MJPG {}x{} at {fps} fps for {seconds} s: {:?}", dev.display(), w, h, got);
    let t0 = Instant::now();
    let mut n = 0usize;
    while t0.elapsed().as_secs_f64() < seconds {
        let frame = &jpegs[n % jpegs.len()];
        // The loopback holds one frame per write; a writer that outruns
        // the reader just replaces it.
        if let Err(e) = wr.write_all(frame) {
            println!("[feed] write {n}: {e}");
        }
        n += 1;
        let due = Duration::from_secs_f64(n as f64 / fps);
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    println!("[feed] wrote {n} frames");
    Ok(())
}

/// Copies a JPEG without its DHT segments (as a UVC camera may send it).
fn tool_strip_dht(args: &[String]) -> Result<()> {
    let [src, dst] = args else { bail!("usage: strip-dht IN OUT") };
    let j = std::fs::read(src).with_context(|| format!("read {src}"))?;
    let mut out = j[..2].to_vec();
    let mut pos = 2;
    while pos + 4 <= j.len() && j[pos + 1] != 0xDA {
        let seg = u16::from_be_bytes([j[pos + 2], j[pos + 3]]) as usize;
        if j[pos + 1] != 0xC4 {
            out.extend_from_slice(&j[pos..pos + 2 + seg]);
        }
        pos += 2 + seg;
    }
    out.extend_from_slice(&j[pos..]);
    std::fs::write(dst, &out).with_context(|| format!("write {dst}"))?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some((tool, rest)) = args.split_first() {
        let r = match tool.as_str() {
            "fwht-encode" => tool_fwht_encode(rest),
            "psnr" => tool_psnr(rest),
            "mjpeg-feed" => tool_mjpeg_feed(rest),
            "strip-dht" => tool_strip_dht(rest),
            other => Err(anyhow!("unknown tool {other}")),
        };
        if let Err(e) = r {
            eprintln!("v4l2check {tool}: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let t0 = Instant::now();
    let mut rep = Report { failures: 0, passes: 0 };
    let mut nodes = vec![];
    let mut enum_err = vec![];
    for p in video_nodes() {
        match probe(&p) {
            Ok(n) => nodes.push(n),
            Err(e) => enum_err.push(format!("{}: {:#}", p.display(), e)),
        }
    }
    println!("[enum] {} video nodes", nodes.len());
    rep.check(
        "enumerate",
        if !enum_err.is_empty() {
            Err(anyhow!("{}", enum_err.join("; ")))
        } else if nodes.is_empty() {
            Err(anyhow!("no /dev/video* nodes"))
        } else {
            Ok(())
        },
    );

    // ---- vivid
    match nodes.iter().find(|n| n.driver == "vivid" && n.caps.contains(Capabilities::VIDEO_CAPTURE)) {
        Some(v) => {
            for fcc in [b"MJPG", b"JPEG", b"H264", b"YUYV", b"NV12"] {
                println!("[vivid] offers {}: {}", String::from_utf8_lossy(fcc), v.has_fmt(QueueType::VideoCapture, fcc));
            }
            for (fcc, w, h) in [(b"YUYV", 640, 480), (b"NV12", 1280, 720)] {
                let name = format!("vivid-capture-{}-{}x{}", String::from_utf8_lossy(fcc).to_lowercase(), w, h);
                rep.check(&name, vivid_capture(v, fcc, w, h, 6));
            }
        }
        None => rep.check("vivid-capture", Err(anyhow!("no vivid capture node"))),
    }

    // ---- vicodec round trip
    let enc = nodes.iter().find(|n| n.driver == "vicodec" && n.has_fmt(QueueType::VideoCapture, b"FWHT"));
    let dec = nodes.iter().find(|n| n.driver == "vicodec" && n.has_fmt(QueueType::VideoOutput, b"FWHT"));
    println!(
        "[vicodec] encoder={:?} decoder={:?}",
        enc.map(|n| (&n.path, &n.card)),
        dec.map(|n| (&n.path, &n.card))
    );
    let rt = (|| -> Result<()> {
        let (Some(enc), Some(dec)) = (enc, dec) else {
            bail!("vicodec encoder/decoder nodes not found");
        };
        let (w, h) = (640usize, 480usize); // vicodec: min 640x360, max 4096x2160
        let frames: Vec<Vec<u8>> = (0..12).map(|i| gen_nv12(w, h, i)).collect();
        let coded = vicodec_encode(enc, w as u32, h as u32, &frames).context("encode")?;
        let stream: Vec<u8> = coded.concat();
        // feed the concatenated elementary stream in arbitrary-size chunks, like a
        // parser-less client would do with an H.264 byte stream
        let n = vicodec_decode(dec, &stream, 4000, &frames, w, h).context("decode")?;
        if n != frames.len() {
            bail!("decoded {} of {} frames", n, frames.len());
        }
        println!("[vicodec] OK: round trip {} frames", n);
        Ok(())
    })();
    rep.check("vicodec-fwht-roundtrip", rt);

    // ---- v4l2loopback (optional: only if the module is loaded)
    if let Some(l) = nodes.iter().find(|n| n.driver == "v4l2 loopback") {
        rep.check("v4l2loopback-mjpeg", loopback_mjpeg(l, 8));
    } else {
        println!("[loop] no v4l2loopback node: skipped");
    }

    println!(
        "[v4l2check] RESULT: {} ({} passed, {} failed) in {:.2}s",
        if rep.failures == 0 { "PASS" } else { "FAIL" },
        rep.passes,
        rep.failures,
        t0.elapsed().as_secs_f64()
    );
    std::process::exit(if rep.failures == 0 { 0 } else { 1 });
}
