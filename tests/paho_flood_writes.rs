//! A write Paho could not finish at once goes on while the broker floods the client
//! (docs/paho-fork.md, patch 2, "a read-ahead buffer"). The broker here is a loopback
//! server written for the test: it answers CONNECT, then sends QoS 0 PUBLISHes without
//! a pause, and reads nothing from the client until the application has asked it for a
//! 16 MiB PUBLISH, more than a loopback connection's socket buffers take at once (on
//! Linux at most 4 MiB sent and 6 MiB received, by default): the rest of it waits in Paho
//! as a pending write, which Paho's receive thread continues when a poll says the socket
//! takes more.
//!
//! Unpatched, the read-ahead buffer's shortcut (a socket with buffered bytes is handed
//! out without a poll) skipped that poll and the continuation whenever the buffer held
//! bytes at the start of a cycle, which in a flood is always, except after a read that
//! happens to end on a packet boundary: a 16 KiB read, or a short one when the client has
//! caught up with the broker. The stream here has no such read (every packet boundary
//! after the first PUBLISH is at an odd offset of the stream, every full read and every
//! write of the broker ends at an even one, and the application is slower than the
//! broker, so every read is full): the PUBLISH never left, 60,000 flood messages were
//! delivered meanwhile, and a broker, which gets no PINGREQ either while the write is
//! pending, would in time have closed the connection for its keep-alive. With packets
//! of mixed sizes the wait ends at the first read that ends on a boundary, by chance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{encode_publish, read_packet, unique, wait_until};

const T: Duration = Duration::from_secs(10);

/// The bytes of each write of the flood.
const CHUNK: usize = 1_000_000;

/// The client's PUBLISH: far more than a loopback connection's socket buffers hold.
const LARGE: usize = 16 << 20;

/// A QoS 0 PUBLISH to `f` of `len` bytes in all (under 130).
fn flood_packet(len: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_publish(&mut buf, "f", &vec![b'x'; len - 5], 0, 0, false);
    assert_eq!(buf.len(), len);
    buf
}

/// The fake broker's side of the connection.
struct Flood {
    /// Whether the flood still runs (the writer stops at the first failed write).
    running: Arc<AtomicBool>,
    /// Tells the reader to begin reading.
    start_reading: mpsc::Sender<()>,
    /// The length of each packet the reader read (until the connection ends).
    packets: mpsc::Receiver<(u8, usize)>,
    stream: TcpStream,
}

/// Accepts one client on `listener`, answers its CONNECT, then floods it: a 101-byte
/// PUBLISH, then 100-byte ones without end, each write ending inside a packet at an even
/// offset of the stream (so that the client, reading all that is there, stops inside a
/// packet too). It reads what the client sends only once told to.
fn flood(listener: TcpListener) -> Flood {
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    assert_eq!(
        read_packet(&mut stream).unwrap()[0] >> 4,
        1,
        "a CONNECT first"
    );
    stream.write_all(&[0x20, 0x02, 0x00, 0x00]).unwrap();

    let running = Arc::new(AtomicBool::new(true));
    let mut writer = stream.try_clone().unwrap();
    let still = Arc::clone(&running);
    thread::spawn(move || {
        // Offsets from the stream's start: the CONNACK (4 bytes) and the 101-byte PUBLISH
        // end at 105, so every packet after it ends at an odd one.
        let packets = flood_packet(100).repeat(CHUNK / 100 + 1);
        // 101 + 999,999 bytes: the first write ends at 1,000,104, 99 bytes into a packet.
        let first = [flood_packet(101).as_slice(), &packets[..CHUNK - 1]].concat();
        // Then a million bytes at a time from there: 99 bytes into a packet again.
        let next = &packets[99..CHUNK + 99];
        let mut ok = writer.write_all(&first).is_ok();
        while ok && still.load(Ordering::SeqCst) {
            ok = writer.write_all(next).is_ok();
        }
        still.store(false, Ordering::SeqCst);
    });

    let (start_reading, go) = mpsc::channel();
    let (tx, packets) = mpsc::channel();
    let mut reader = stream.try_clone().unwrap();
    thread::spawn(move || {
        if go.recv().is_err() {
            return;
        }
        reader.set_read_timeout(None).unwrap();
        while let Ok(packet) = read_packet(&mut reader) {
            if tx.send((packet[0] >> 4, packet.len())).is_err() {
                return;
            }
        }
    });
    Flood {
        running,
        start_reading,
        packets,
        stream,
    }
}

#[test]
fn a_pending_write_goes_on_while_the_broker_floods_the_client() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = thread::spawn(move || flood(listener));

    let cli = paho::CreateOptionsBuilder::new()
        .server_uri(format!("tcp://127.0.0.1:{port}"))
        .client_id(unique("flood-writes"))
        .persistence(paho::PersistenceType::None)
        .create_client()
        .unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&received);
    // An application slower than the broker (as in any flood): the kernel always holds
    // more than the client reads at once, so each of its reads fills the 16 KiB buffer.
    cli.set_message_callback(move |_, _| {
        count.fetch_add(1, Ordering::Relaxed);
        thread::sleep(Duration::from_micros(20));
    });
    let options = paho::ConnectOptionsBuilder::new()
        .connect_timeout(T)
        .keep_alive_interval(Duration::from_secs(60))
        .finalize();
    cli.connect(options).wait_for(T).unwrap();
    let flood = broker.join().unwrap();

    // The client reads the flood (its read-ahead buffer in use) when it begins the write.
    assert!(
        wait_until(T, || received.load(Ordering::Relaxed) >= 1_000),
        "the client did not receive the flood"
    );
    let token = cli.publish(paho::Message::new("large", vec![b'y'; LARGE], 0));
    flood.start_reading.send(()).unwrap();

    let start = Instant::now();
    let got = flood.packets.recv_timeout(T);
    let before = received.load(Ordering::Relaxed);
    let flooding = flood.running.load(Ordering::SeqCst);
    let done = token.wait_for(Duration::from_secs(1));
    let elapsed = start.elapsed();
    flood.running.store(false, Ordering::SeqCst);
    flood.stream.shutdown(Shutdown::Both).unwrap();
    let _ = cli.disconnect(None).wait_for(T);

    let (kind, len) = got.unwrap_or_else(|e| {
        panic!(
            "the broker did not receive the client's PUBLISH within {T:?} \
             ({before} flood messages delivered meanwhile): {e}"
        )
    });
    assert_eq!(kind, 3, "a PUBLISH");
    assert!(len > LARGE, "the whole PUBLISH: {len} bytes");
    assert!(flooding, "the flood ran all along");
    done.unwrap();
    eprintln!("the {LARGE}-byte PUBLISH arrived in {elapsed:?} during the flood");
}
