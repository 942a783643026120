//! MQTT quality of service levels.

use std::fmt;

/// The MQTT quality of service of a subscription or a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: delivered at most once, no acknowledgement (the default).
    #[default]
    AtMostOnce = 0,
    /// QoS 1: delivered at least once; duplicates are possible.
    AtLeastOnce = 1,
    /// QoS 2: delivered exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The level as the number used on the wire (0, 1 or 2).
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The level for a number, or `None` outside `0..=2`.
    pub const fn from_u8(level: u8) -> Option<QoS> {
        match level {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }

    pub(crate) fn to_paho(self) -> paho_mqtt::QoS {
        match self {
            QoS::AtMostOnce => paho_mqtt::QoS::AtMostOnce,
            QoS::AtLeastOnce => paho_mqtt::QoS::AtLeastOnce,
            QoS::ExactlyOnce => paho_mqtt::QoS::ExactlyOnce,
        }
    }

    pub(crate) fn from_paho(qos: paho_mqtt::QoS) -> QoS {
        match qos {
            paho_mqtt::QoS::AtMostOnce => QoS::AtMostOnce,
            paho_mqtt::QoS::AtLeastOnce => QoS::AtLeastOnce,
            paho_mqtt::QoS::ExactlyOnce => QoS::ExactlyOnce,
        }
    }
}

impl fmt::Display for QoS {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u8())
    }
}

impl TryFrom<u8> for QoS {
    type Error = crate::error::Error;

    fn try_from(level: u8) -> Result<Self, Self::Error> {
        QoS::from_u8(level).ok_or(crate::error::Error::InvalidQos(level))
    }
}

impl From<QoS> for u8 {
    fn from(qos: QoS) -> u8 {
        qos.as_u8()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (n, q) in [
            (0, QoS::AtMostOnce),
            (1, QoS::AtLeastOnce),
            (2, QoS::ExactlyOnce),
        ] {
            assert_eq!(QoS::from_u8(n), Some(q));
            assert_eq!(q.as_u8(), n);
            assert_eq!(QoS::from_paho(q.to_paho()), q);
            assert_eq!(q.to_string(), n.to_string());
        }
        assert_eq!(QoS::from_u8(3), None);
        assert!(matches!(
            QoS::try_from(7),
            Err(crate::error::Error::InvalidQos(7))
        ));
    }
}
