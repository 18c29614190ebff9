//! Request parsing and response encoding: everything between raw bytes and a [`Zone`]
//! lookup that needs no I/O.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::zone::{Answer, Zone};

/// Largest UDP payload we advertise and send (the DNS flag day 2020 value, avoiding
/// fragmentation).
pub(crate) const OUR_UDP_PAYLOAD: u16 = 1232;
/// Classic UDP limit for clients without EDNS.
const PLAIN_UDP_PAYLOAD: usize = 512;
/// TCP messages carry a 16-bit length.
pub(crate) const TCP_MAX: usize = u16::MAX as usize;

/// What to do with one request.
pub(crate) enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not ours: relay the raw query upstream.
    Forward,
    /// An ExternalName CNAME leaving the zone: `response` holds the CNAME; resolve
    /// `target` upstream and append.
    Chase {
        response: Box<Message>,
        target: Name,
        qtype: RecordType,
    },
    /// Not a query (or too short to answer): say nothing.
    Drop,
}

/// The size limit for a UDP reply to this request.
pub(crate) fn udp_limit(req: &Message) -> usize {
    match &req.edns {
        Some(edns) => usize::from(edns.max_payload().min(OUR_UDP_PAYLOAD)).max(PLAIN_UDP_PAYLOAD),
        None => PLAIN_UDP_PAYLOAD,
    }
}

/// A response skeleton echoing the request's id, question, RD bit and EDNS presence.
pub(crate) fn response_to(req: &Message, code: ResponseCode) -> Message {
    let mut msg = Message::response(req.metadata.id, req.metadata.op_code);
    msg.metadata.recursion_desired = req.metadata.recursion_desired;
    msg.metadata.recursion_available = true;
    msg.metadata.checking_disabled = req.metadata.checking_disabled;
    msg.metadata.response_code = code;
    msg.queries = req.queries.clone();
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_UDP_PAYLOAD);
        msg.edns = Some(edns);
    }
    msg
}

/// An error reply built from the header bytes alone (for requests that do not parse).
fn header_error(raw: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*raw.first()?, *raw.get(1)?]);
    let flags = *raw.get(2)?;
    if flags & 0x80 != 0 {
        // A response, not a query: never answer it (reflection loops).
        return None;
    }
    let mut msg = Message::error_msg(id, OpCode::Query, code);
    msg.metadata.recursion_desired = flags & 0x01 != 0;
    msg.to_vec().ok()
}

/// Encodes `msg`, truncating (TC, records dropped) when it exceeds `limit`.
pub(crate) fn encode(msg: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = msg.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    msg.truncate().to_vec().ok()
}

/// Decides what to do with one raw request; `udp` sizes the reply for UDP (limit from
/// the request's EDNS) instead of TCP. Also returns the parsed request when it parsed.
pub(crate) fn handle(zone: &Zone, raw: &[u8], udp: bool) -> (Outcome, Option<Message>) {
    let req = match Message::from_vec(raw) {
        Ok(m) => m,
        Err(_) => {
            let out = match header_error(raw, ResponseCode::FormErr) {
                Some(bytes) => Outcome::Reply(bytes),
                None => Outcome::Drop,
            };
            return (out, None);
        }
    };
    if req.metadata.message_type != MessageType::Query {
        return (Outcome::Drop, None);
    }
    let limit = if udp { udp_limit(&req) } else { TCP_MAX };
    let reply = |msg: Message| match encode(&msg, limit) {
        Some(b) => Outcome::Reply(b),
        None => Outcome::Drop,
    };
    if req.metadata.op_code != OpCode::Query {
        let out = reply(response_to(&req, ResponseCode::NotImp));
        return (out, Some(req));
    }
    let Some(query) = single_query(&req) else {
        let out = reply(response_to(&req, ResponseCode::FormErr));
        return (out, Some(req));
    };
    let (name, qtype) = (query.name().clone(), query.query_type());
    let in_class = matches!(query.query_class(), DNSClass::IN | DNSClass::ANY);
    let answer = if in_class {
        zone.lookup(&name, qtype)
    } else if zone.contains(&name) {
        let out = reply(response_to(&req, ResponseCode::Refused));
        return (out, Some(req));
    } else {
        Answer::NotInZone
    };
    let out = match answer {
        Answer::NotInZone => Outcome::Forward,
        Answer::Found {
            answers,
            additionals,
        } => {
            let mut msg = response_to(&req, ResponseCode::NoError);
            msg.metadata.authoritative = true;
            if answers.is_empty() {
                msg.authorities.push(zone.soa());
            }
            msg.answers = answers;
            msg.additionals = additionals;
            reply(msg)
        }
        Answer::NxDomain => {
            let mut msg = response_to(&req, ResponseCode::NXDomain);
            msg.metadata.authoritative = true;
            msg.authorities.push(zone.soa());
            reply(msg)
        }
        Answer::Cname { answers, target } => {
            let mut msg = response_to(&req, ResponseCode::NoError);
            msg.metadata.authoritative = true;
            msg.answers = answers;
            Outcome::Chase {
                response: Box::new(msg),
                target,
                qtype,
            }
        }
    };
    (out, Some(req))
}

fn single_query(req: &Message) -> Option<&Query> {
    match req.queries.as_slice() {
        [q] => Some(q),
        _ => None,
    }
}

/// Appends what upstream said about a CNAME target to the zone's CNAME response.
pub(crate) fn append_chased(response: &mut Message, upstream: Option<Message>) {
    if let Some(up) = upstream {
        let records: Vec<Record> = up.answers;
        response.answers.extend(records);
    }
}

/// A question for `name`/`qtype`, recursion desired, with a fresh id.
pub(crate) fn query_for(name: Name, qtype: RecordType, id: u16) -> Message {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.queries.push(Query::query(name, qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(OUR_UDP_PAYLOAD);
    msg.edns = Some(edns);
    msg
}

/// SERVFAIL for a request whose upstreams all failed.
pub(crate) fn servfail(req: &Message, udp: bool) -> Option<Vec<u8>> {
    let limit = if udp { udp_limit(req) } else { TCP_MAX };
    encode(&response_to(req, ResponseCode::ServFail), limit)
}
