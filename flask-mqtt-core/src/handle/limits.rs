//! What a broker accepts in a PUBLISH, checked before the publish is handed to Paho: a
//! publish over a limit makes the broker close the connection (Mosquitto: "oversize
//! packet", "Too high QoS"), and Paho sends a QoS 1/2 one again after every reconnect of
//! a persistent session, so that one message would keep the client reconnecting.
//!
//! The limits are MQTT's own (a packet's remaining length fits in four bytes) and those
//! an MQTT 5 broker announces in its CONNACK: Maximum QoS, Retain Available, Maximum
//! Packet Size (MQTT 5.0 §3.2.2.3.4, .5, .6). An MQTT 3.1.1 broker announces none; the
//! embedded broker's packet size limit is known without it (`BrokerLimits::known`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use crate::error::{truncate, Error, PublishLimit};
use crate::qos::QoS;

/// The largest remaining length a packet may have (four bytes of variable byte integer,
/// MQTT 5.0 §1.5.5 and 3.1.1 §2.2.3).
const MAX_REMAINING_LENGTH: u64 = 268_435_455;

/// The limits of the broker the client is connected to (or was, last).
#[derive(Debug)]
pub(crate) struct BrokerLimits {
    max_qos: AtomicU8,
    retain_available: AtomicBool,
    /// The broker's Maximum Packet Size; 0 when it announced none (and none is known).
    max_packet_size: AtomicU32,
    /// The broker's packet size limit when it announces none: the embedded broker's
    /// (MQTT 3.1.1); 0 for none.
    known_max_packet_size: u32,
}

impl Default for BrokerLimits {
    fn default() -> Self {
        BrokerLimits::known(0)
    }
}

impl BrokerLimits {
    /// The limits of a broker that accepts packets of at most `max_packet_size` bytes
    /// (0: any) when it announces no Maximum Packet Size.
    pub(crate) fn known(max_packet_size: u32) -> Self {
        BrokerLimits {
            max_qos: AtomicU8::new(QoS::ExactlyOnce.as_u8()),
            retain_available: AtomicBool::new(true),
            max_packet_size: AtomicU32::new(max_packet_size),
            known_max_packet_size: max_packet_size,
        }
    }

    /// A connection was accepted with these CONNACK properties (`None`: MQTT 3.1.1,
    /// which announces no limits). An absent property means no limit.
    pub(crate) fn connected(&self, connack: Option<&paho_mqtt::Properties>) {
        let int = |code| connack.and_then(|p| p.get_int(code));
        let max_qos = int(paho_mqtt::PropertyCode::MaximumQos)
            .and_then(|q| u8::try_from(q).ok())
            .filter(|&q| q <= QoS::ExactlyOnce.as_u8())
            .unwrap_or(QoS::ExactlyOnce.as_u8());
        let retain = int(paho_mqtt::PropertyCode::RetainAvailable) != Some(0);
        let max_packet = int(paho_mqtt::PropertyCode::MaximumPacketSize)
            .map_or(self.known_max_packet_size, |n| {
                u32::from_ne_bytes(n.to_ne_bytes())
            });
        self.max_qos.store(max_qos, Ordering::Relaxed);
        self.retain_available.store(retain, Ordering::Relaxed);
        self.max_packet_size.store(max_packet, Ordering::Relaxed);
    }

    /// Whether a PUBLISH of `packet` may be sent to this broker.
    pub(crate) fn check(&self, packet: &PublishPacket) -> Result<(), PublishLimit> {
        let size = packet.size();
        if packet.remaining_length() > MAX_REMAINING_LENGTH {
            return Err(PublishLimit::PacketSize {
                size,
                max: packet_size(MAX_REMAINING_LENGTH),
                announced: false,
            });
        }
        let max = u64::from(self.max_packet_size.load(Ordering::Relaxed));
        if max != 0 && size > max {
            return Err(PublishLimit::PacketSize {
                size,
                max,
                announced: true,
            });
        }
        let max_qos = self.max_qos.load(Ordering::Relaxed);
        if packet.qos.as_u8() > max_qos {
            return Err(PublishLimit::Qos {
                qos: packet.qos.as_u8(),
                max: max_qos,
            });
        }
        if packet.retain && !self.retain_available.load(Ordering::Relaxed) {
            return Err(PublishLimit::Retain);
        }
        Ok(())
    }
}

/// A packet of topic filters: what each filter costs in it besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FilterPacket {
    /// A SUBSCRIBE: a 2-byte length and a subscription options byte per filter.
    Subscribe,
    /// An UNSUBSCRIBE: a 2-byte length per filter.
    Unsubscribe,
}

impl FilterPacket {
    /// The packet's name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FilterPacket::Subscribe => "SUBSCRIBE",
            FilterPacket::Unsubscribe => "UNSUBSCRIBE",
        }
    }

    /// The error for `filter` over `limit`, alone too large for this packet (a pair of
    /// [`Packets::too_large`]): the one way it is said, returned or logged.
    pub(crate) fn too_large(self, filter: &str, limit: PublishLimit) -> Error {
        Error::FilterLimit {
            request: self.name(),
            filter: truncate(filter),
            limit,
        }
    }

    /// What `filter` adds to the packet's remaining length (MQTT 5.0 §3.8.3, §3.10.3).
    fn cost(self, filter: &str) -> u64 {
        let options = match self {
            FilterPacket::Subscribe => 1,
            FilterPacket::Unsubscribe => 0,
        };
        u64::try_from(filter.len())
            .unwrap_or(u64::MAX)
            .saturating_add(2 + options)
    }
}

/// `items` split into the packets that carry them ([`BrokerLimits::split_packets`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Packets<T> {
    /// The packets, in order: each at most `max_filters` items and small enough for the
    /// broker.
    pub(crate) chunks: Vec<Vec<T>>,
    /// The items whose filter alone makes a packet larger than the broker takes: not
    /// sent, with the limit it is over.
    pub(crate) too_large: Vec<(T, PublishLimit)>,
}

impl BrokerLimits {
    /// The largest packet this broker takes: its Maximum Packet Size (or the known
    /// one), else MQTT's own; and whether it is the broker's.
    fn max_packet(&self) -> (u64, bool) {
        let mqtt = packet_size(MAX_REMAINING_LENGTH);
        match u64::from(self.max_packet_size.load(Ordering::Relaxed)) {
            0 => (mqtt, false),
            broker if broker >= mqtt => (mqtt, false),
            broker => (broker, true),
        }
    }

    /// The one way a connect's SUBSCRIBEs and UNSUBSCRIBEs (and a `subscribe`) are cut
    /// into packets: `items` in order, at most `max_filters` per packet, each packet (its
    /// fixed header, packet id, properties on MQTT 5 (`v5`: none but their length byte),
    /// and per filter what [`FilterPacket`] says) no larger than the broker takes; a
    /// filter too large for any packet is not in one. An MQTT 5 broker closes the
    /// connection at a larger packet (MQTT 5.0 §3.1.2.11.4), and the next connect would
    /// send it again.
    pub(crate) fn split_packets<T>(
        &self,
        items: Vec<T>,
        filter: impl Fn(&T) -> &str,
        kind: FilterPacket,
        v5: bool,
        max_filters: usize,
    ) -> Packets<T> {
        let (max, announced) = self.max_packet();
        // Packet id, and the properties' length (0: none).
        let base: u64 = if v5 { 3 } else { 2 };
        let mut packets = Packets {
            chunks: Vec::new(),
            too_large: Vec::new(),
        };
        let mut chunk: Vec<T> = Vec::new();
        let mut remaining = base;
        for item in items {
            let cost = kind.cost(filter(&item));
            let alone = packet_size(base.saturating_add(cost));
            if alone > max {
                let limit = PublishLimit::PacketSize {
                    size: alone,
                    max,
                    announced,
                };
                packets.too_large.push((item, limit));
                continue;
            }
            let grown = packet_size(remaining.saturating_add(cost));
            if !chunk.is_empty() && (grown > max || chunk.len() >= max_filters.max(1)) {
                packets.chunks.push(std::mem::take(&mut chunk));
                remaining = base;
            }
            remaining = remaining.saturating_add(cost);
            chunk.push(item);
        }
        if !chunk.is_empty() {
            packets.chunks.push(chunk);
        }
        packets
    }
}

/// What decides a PUBLISH packet's size and whether a broker takes it.
pub(crate) struct PublishPacket {
    pub(crate) topic_len: usize,
    pub(crate) payload_len: usize,
    /// MQTT 5: the properties' encoded length, their own length field included (Paho's
    /// `MQTTProperties_len`; 1 for none). `None` on MQTT 3.1.1, which has no properties.
    pub(crate) properties_len: Option<usize>,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
}

impl PublishPacket {
    /// The variable header and payload (MQTT 5.0 §3.3.2, §3.3.3).
    fn remaining_length(&self) -> u64 {
        let packet_id = if self.qos == QoS::AtMostOnce { 0 } else { 2 };
        [
            2,
            self.topic_len,
            packet_id,
            self.properties_len.unwrap_or(0),
            self.payload_len,
        ]
        .iter()
        .map(|&n| u64::try_from(n).unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add)
    }

    /// The whole packet, fixed header included.
    fn size(&self) -> u64 {
        packet_size(self.remaining_length())
    }
}

/// The size of a packet whose remaining length is `remaining`: one byte of type and flags,
/// the remaining length as a variable byte integer, and the rest.
fn packet_size(remaining: u64) -> u64 {
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    remaining.saturating_add(1 + length_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload_len: usize, qos: QoS, retain: bool) -> PublishPacket {
        PublishPacket {
            topic_len: 3,
            payload_len,
            properties_len: Some(1),
            qos,
            retain,
        }
    }

    /// Sizes as a broker counts them: `a/b`, QoS 1, no properties, 10 bytes of payload is
    /// 1 + 1 + (2 + 3 + 2 + 1 + 10) = 20 bytes; the length field grows at 128.
    #[test]
    fn packet_sizes_count_every_byte() {
        assert_eq!(packet(10, QoS::AtLeastOnce, false).size(), 20);
        assert_eq!(packet(10, QoS::AtMostOnce, false).size(), 18);
        let mut v3 = packet(10, QoS::AtMostOnce, false);
        v3.properties_len = None;
        assert_eq!(v3.size(), 17);
        // Remaining length 127 -> 1 length byte; 128 -> 2.
        assert_eq!(packet(121, QoS::AtMostOnce, false).size(), 129);
        assert_eq!(packet(122, QoS::AtMostOnce, false).size(), 131);
        assert_eq!(packet_size(MAX_REMAINING_LENGTH), 268_435_460);
    }

    /// A limit known without being announced (the embedded broker's) holds before the
    /// first CONNACK and after every MQTT 3.1.1 one; one the broker announces replaces it.
    #[test]
    fn a_known_packet_size_limit_holds_unless_the_broker_announces_one() {
        let limits = BrokerLimits::known(2_000);
        let over = |size| {
            Err(PublishLimit::PacketSize {
                size,
                max: 2_000,
                announced: true,
            })
        };
        assert_eq!(
            limits.check(&packet(5_000, QoS::AtMostOnce, false)),
            over(5_009)
        );
        limits.connected(None);
        assert_eq!(
            limits.check(&packet(5_000, QoS::AtMostOnce, false)),
            over(5_009)
        );
        let mut connack = paho_mqtt::Properties::new();
        connack
            .push_int(paho_mqtt::PropertyCode::MaximumPacketSize, 10_000)
            .unwrap();
        limits.connected(Some(&connack));
        assert_eq!(limits.check(&packet(5_000, QoS::AtMostOnce, false)), Ok(()));
    }

    fn announcing(max: i32) -> BrokerLimits {
        let limits = BrokerLimits::default();
        let mut connack = paho_mqtt::Properties::new();
        connack
            .push_int(paho_mqtt::PropertyCode::MaximumPacketSize, max)
            .unwrap();
        limits.connected(Some(&connack));
        limits
    }

    /// The sizes of every packet [`BrokerLimits::split_packets`] made, as a broker counts
    /// them.
    fn sizes(packets: &Packets<String>, kind: FilterPacket, v5: bool) -> Vec<u64> {
        let base = if v5 { 3 } else { 2 };
        packets
            .chunks
            .iter()
            .map(|c| packet_size(c.iter().map(|f| kind.cost(f)).sum::<u64>() + base))
            .collect()
    }

    /// A broker max of 1,000 bytes and 10 filters of 300 bytes: three filters to a packet
    /// (3 x 303 + 3 + 3 = 915 bytes a SUBSCRIBE), never the 64 a packet may hold.
    #[test]
    fn filters_are_split_into_packets_the_broker_takes() {
        let limits = announcing(1_000);
        let filters: Vec<String> = (0..10).map(|i| format!("{i}{}", "x".repeat(299))).collect();
        for kind in [FilterPacket::Subscribe, FilterPacket::Unsubscribe] {
            let packets = limits.split_packets(filters.clone(), |f| f, kind, true, 64);
            let lens: Vec<usize> = packets.chunks.iter().map(Vec::len).collect();
            assert_eq!(lens, [3, 3, 3, 1], "{kind:?}");
            assert!(sizes(&packets, kind, true).iter().all(|&s| s <= 1_000));
            assert_eq!(packets.chunks.concat(), filters, "in order, each once");
            assert!(packets.too_large.is_empty());
        }
        // Filter count still bounds them; the exact fit is taken (2 + 1 + 3 x 303 = 912,
        // plus 3 bytes of header = 915).
        let packets =
            limits.split_packets(filters.clone(), |f| f, FilterPacket::Subscribe, false, 2);
        assert_eq!(packets.chunks.len(), 5);
        assert_eq!(
            sizes(
                &announcing(915).split_packets(
                    filters[..3].to_vec(),
                    |f| f,
                    FilterPacket::Subscribe,
                    true,
                    64
                ),
                FilterPacket::Subscribe,
                true
            ),
            [915]
        );
        assert_eq!(
            announcing(914)
                .split_packets(
                    filters[..3].to_vec(),
                    |f| f,
                    FilterPacket::Subscribe,
                    true,
                    64
                )
                .chunks
                .len(),
            2
        );
    }

    /// A filter that no packet the broker takes can carry is left out, with the limit.
    #[test]
    fn a_filter_too_large_for_any_packet_is_left_out() {
        let limits = announcing(1_000);
        let filters = vec!["a".to_owned(), "b".repeat(2_000), "c".to_owned()];
        let packets = limits.split_packets(filters, |f| f, FilterPacket::Unsubscribe, true, 64);
        assert_eq!(packets.chunks, [["a".to_owned(), "c".to_owned()]]);
        assert_eq!(
            packets.too_large,
            [(
                "b".repeat(2_000),
                PublishLimit::PacketSize {
                    size: 2_008,
                    max: 1_000,
                    announced: true
                }
            )]
        );
        // No limit announced: MQTT's own, which a 65,535-byte filter is far under.
        let packets = BrokerLimits::default().split_packets(
            vec!["d".repeat(65_535); 64],
            |f| f,
            FilterPacket::Subscribe,
            true,
            64,
        );
        assert_eq!(packets.chunks.len(), 1);
    }

    #[test]
    fn limits_announced_in_the_connack_are_checked() {
        let limits = BrokerLimits::default();
        assert_eq!(limits.check(&packet(5_000, QoS::ExactlyOnce, true)), Ok(()));
        let mut connack = paho_mqtt::Properties::new();
        for (code, value) in [
            (paho_mqtt::PropertyCode::MaximumQos, 1),
            (paho_mqtt::PropertyCode::RetainAvailable, 0),
            (paho_mqtt::PropertyCode::MaximumPacketSize, 2_000),
        ] {
            connack.push_int(code, value).unwrap();
        }
        limits.connected(Some(&connack));
        assert_eq!(
            limits.check(&packet(5_000, QoS::AtMostOnce, false)),
            Err(PublishLimit::PacketSize {
                size: 5_009,
                max: 2_000,
                announced: true
            })
        );
        assert_eq!(
            limits.check(&packet(10, QoS::ExactlyOnce, false)),
            Err(PublishLimit::Qos { qos: 2, max: 1 })
        );
        assert_eq!(
            limits.check(&packet(10, QoS::AtLeastOnce, true)),
            Err(PublishLimit::Retain)
        );
        assert_eq!(limits.check(&packet(10, QoS::AtLeastOnce, false)), Ok(()));
        // A later connection without them (MQTT 3.1.1, or another broker): no limits.
        limits.connected(None);
        assert_eq!(limits.check(&packet(5_000, QoS::ExactlyOnce, true)), Ok(()));
    }

    #[test]
    fn more_than_mqtt_allows_is_refused_whatever_the_broker_said() {
        let limits = BrokerLimits::default();
        let max = usize::try_from(MAX_REMAINING_LENGTH).unwrap();
        assert_eq!(
            limits.check(&packet(max, QoS::AtMostOnce, false)),
            Err(PublishLimit::PacketSize {
                size: 268_435_466,
                max: 268_435_460,
                announced: false
            })
        );
        assert_eq!(
            limits.check(&packet(max - 6, QoS::AtMostOnce, false)),
            Ok(())
        );
    }
}
