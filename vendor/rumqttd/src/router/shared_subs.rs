use std::collections::{HashMap, VecDeque};

use rand::Rng;
use serde::{Deserialize, Serialize};

pub struct SharedGroup {
    // using Vec over HashSet for maintaining order of iter
    clients: Vec<String>,
    // Index into clients, allows us to skip doing iter everytime
    current_client_index: usize,
    pub cursor: (u64, u64),
    pub strategy: Strategy,
    /// flask-mqtt: which creation of the group (by shared filter, patch 12) this is, from 1:
    /// a group dropped (left empty) and recreated is of another one (see
    /// `DataRequest::held_in_generation`).
    pub generation: u64,
    /// flask-mqtt patch 11: messages of the group's log (cursors behind `cursor`, in log
    /// order) that members held unacknowledged when they left the group, owed to its
    /// other members: the member whose turn it is gets the first before the group reads on
    /// from `cursor`.
    pub handed_back: VecDeque<(u64, u64)>,
    /// flask-mqtt patch 14: each member's QoS in the group (its subscription's, as its
    /// request reads), so that a QoS 0 member leaves a handed-back message to a member
    /// that acknowledges (see `Router::consume`).
    pub member_qos: HashMap<String, u8>,
}

impl SharedGroup {
    pub fn new(cursor: (u64, u64), strategy: Strategy) -> Self {
        SharedGroup {
            clients: vec![],
            current_client_index: 0,
            cursor,
            strategy,
            generation: 0,
            handed_back: VecDeque::new(),
            member_qos: HashMap::new(),
        }
    }

    /// flask-mqtt patch 14: the members, in turn order.
    pub fn members(&self) -> &[String] {
        &self.clients
    }

    /// flask-mqtt patch 14: records member `client`'s QoS, unless it has one already (a
    /// member subscribing again keeps its request, and so its QoS: rumqttd does not update
    /// an existing subscription).
    pub fn set_member_qos(&mut self, client: &str, qos: u8) {
        if self.clients.iter().any(|c| c == client) && !self.member_qos.contains_key(client) {
            self.member_qos.insert(client.to_owned(), qos);
        }
    }

    /// flask-mqtt patch 11: owes the message at `cursor`, held unacknowledged by a member
    /// that leaves, to the group's other members; returns whether it was not owed already.
    /// A cursor the group has not read past yet is not one it gave out: it reads it anyway.
    pub fn hand_back(&mut self, cursor: (u64, u64)) -> bool {
        if cursor >= self.cursor {
            return false;
        }
        match self.handed_back.binary_search(&cursor) {
            Ok(_) => false,
            Err(at) => {
                self.handed_back.insert(at, cursor);
                true
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn current_client(&self) -> Option<&String> {
        self.clients.get(self.current_client_index)
    }

    pub fn add_client(&mut self, client: String) {
        // flask-mqtt: once: a member subscribing again (a returning session, already put
        // back in its groups, see `Router::handle_new_connection`) got a second turn
        if !self.clients.contains(&client) {
            self.clients.push(client)
        }
    }

    pub fn remove_client(&mut self, client: &String) {
        // remove client from vec
        self.clients.retain(|c| c != client);
        // flask-mqtt patch 14
        self.member_qos.remove(client);

        // if there are no clients left, we have to avoid % by 0
        if !self.clients.is_empty() {
            // Make sure that we are within bounds and that next client is the correct client.
            self.current_client_index %= self.clients.len();
        }
    }

    pub fn update_next_client(&mut self) {
        match self.strategy {
            Strategy::RoundRobin => {
                self.current_client_index = (self.current_client_index + 1) % self.clients.len();
            }
            Strategy::Random => {
                self.current_client_index = rand::thread_rng().gen_range(0..self.clients.len());
            }
            Strategy::Sticky => {}
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    #[default]
    RoundRobin,
    Random,
    Sticky,
}

#[cfg(test)]
mod tests {
    use crate::router::shared_subs::Strategy;

    use super::SharedGroup;

    /// flask-mqtt patch 11
    #[test]
    fn handed_back_messages_are_owed_once_in_log_order() {
        let mut group = SharedGroup::new((0, 10), Strategy::RoundRobin);
        assert!(group.hand_back((0, 5)));
        assert!(group.hand_back((0, 1)));
        assert!(!group.hand_back((0, 5)), "owed already");
        assert!(!group.hand_back((0, 10)), "not read past yet");
        assert_eq!(Vec::from(group.handed_back.clone()), vec![(0, 1), (0, 5)]);
        assert_eq!(group.cursor, (0, 10), "the group's cursor stays");
    }

    /// flask-mqtt patch 14
    #[test]
    fn a_members_qos_is_recorded_once_and_goes_with_it() {
        let mut group = SharedGroup::new((0, 0), Strategy::RoundRobin);
        group.set_member_qos("A", 1);
        assert!(group.member_qos.is_empty(), "not a member");
        group.add_client("A".into());
        group.set_member_qos("A", 0);
        group.set_member_qos("A", 2);
        assert_eq!(group.member_qos.get("A"), Some(&0), "its request's, kept");
        group.remove_client(&"A".into());
        assert!(group.member_qos.is_empty());
    }

    #[test]
    fn performs_round_robin() {
        let mut group = SharedGroup {
            clients: vec!["A".into(), "B".into(), "C".into()],
            current_client_index: 0,
            cursor: (0, 0),
            strategy: Strategy::RoundRobin,
            generation: 0, // flask-mqtt: the field added
            handed_back: Default::default(), // flask-mqtt patch 11: the field added
            member_qos: Default::default(),  // flask-mqtt patch 14: the field added
        };
        group.update_next_client();
        assert_eq!(group.current_client_index, 1);
        group.update_next_client();
        assert_eq!(group.current_client_index, 2);
        group.update_next_client();
        assert_eq!(group.current_client_index, 0);
        group.add_client("D".into());
        assert_eq!(group.current_client_index, 0);
    }

    #[test]
    fn handles_round_robin_when_start_removed() {
        // [ A, B, C ] => 0
        // we remove A
        // [ B, C ] => Should be the next client (B)
        let mut group = SharedGroup {
            clients: vec!["A".into(), "B".into(), "C".into()],
            current_client_index: 0,
            cursor: (0, 0),
            strategy: Strategy::RoundRobin,
            generation: 0, // flask-mqtt: the field added
            handed_back: Default::default(), // flask-mqtt patch 11: the field added
            member_qos: Default::default(),  // flask-mqtt patch 14: the field added
        };
        group.remove_client(&"A".into());
        assert_eq!(group.current_client_index, 0);
        group.update_next_client();
        assert_eq!(group.current_client_index, 1);
        group.update_next_client();
        assert_eq!(group.current_client_index, 0);
    }

    #[test]
    fn handles_round_robin_when_last_removed() {
        // [ A, B, C ] => 2 (C)
        // we remove C
        // [ A, B ] => Should be the next client (A)
        let mut group = SharedGroup {
            clients: vec!["A".into(), "B".into(), "C".into()],
            current_client_index: 0,
            cursor: (0, 0),
            strategy: Strategy::RoundRobin,
            generation: 0, // flask-mqtt: the field added
            handed_back: Default::default(), // flask-mqtt patch 11: the field added
            member_qos: Default::default(),  // flask-mqtt patch 14: the field added
        };
        group.update_next_client();
        assert_eq!(group.current_client_index, 1);
        group.update_next_client();
        assert_eq!(group.current_client_index, 2);
        group.remove_client(&"C".into());
        assert_eq!(group.current_client_index, 0);
    }
}
