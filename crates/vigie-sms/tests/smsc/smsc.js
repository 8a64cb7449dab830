// A scripted SMSC for vigie-sms's integration tests, on the SMPP server of the npm
// package `smpp` (node-smpp): a third-party implementation, so that the client is
// checked against a peer it was not written with.
//
// It listens on 127.0.0.1 (port from argv[2], 0 for any free port) and talks to the
// test as JSON lines: events on stdout, commands on stdin.
//
// Events: listening {port}; bind {system_id, password, interface_version};
// submit {message_id, source_addr, source_addr_ton, destination_addr, data_coding,
// esm_class, registered_delivery, validity_period (ISO 8601 or null), udh (hex of
// the header's information elements, or null), text, in_flight};
// message {message_ids, text, parts, data_coding} once every part of a (possibly
// concatenated) message arrived; throttled; enquire_link; unbind; deliver_sm_resp
// {command_status}; closed.
//
// Commands: {"cmd":"mo","from":"33612345678","to":"33478200001","text":"STOP"} sends a
// patient's reply; {"cmd":"throttle","count":N} answers the next N submit_sm with
// ESME_RTHROTTLED; {"cmd":"reject","count":N} with ESME_RINVDSTADR;
// {"cmd":"delay","ms":M} answers submit_sm after M ms; {"cmd":"stat","value":"UNDELIV"}
// sets the state of later receipts; {"cmd":"receipts","tlvs":false} sends receipts as
// text only; {"cmd":"drop"} closes every connection from the server side;
// {"cmd":"exit"}.

'use strict';

const readline = require('readline');
const smpp = require('smpp');

const emit = (event, fields) => process.stdout.write(JSON.stringify(Object.assign({ event }, fields)) + '\n');

const state = {
  sessions: new Set(),
  nextId: 1,
  throttle: 0,
  reject: 0,
  delayMs: 0,
  stat: 'DELIVRD',
  receiptTlvs: true,
  inFlight: 0,
  // Concatenated messages being reassembled, by source, destination and reference.
  parts: new Map(),
};

const MESSAGE_STATE = { DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8, ENROUTE: 1 };

// node-smpp returns short_message as {udh: [Buffer…], message: String}.
function concatInfo(udhList) {
  for (const udh of udhList || []) {
    if (udh[0] === 0x00 && udh.length >= 5) return { ref: udh[2], total: udh[3], seq: udh[4] };
    if (udh[0] === 0x08 && udh.length >= 6) return { ref: udh.readUInt16BE(2), total: udh[4], seq: udh[5] };
  }
  return null;
}

function smppDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
}

function sendReceipt(session, pdu, messageId) {
  const stat = state.stat;
  const now = smppDate(new Date());
  const dlvrd = stat === 'DELIVRD' ? '001' : '000';
  const err = stat === 'DELIVRD' ? '000' : '001';
  const text = `id:${messageId} sub:001 dlvrd:${dlvrd} submit date:${now} done date:${now} stat:${stat} err:${err} text:`;
  const receipt = {
    source_addr_ton: pdu.dest_addr_ton,
    source_addr_npi: pdu.dest_addr_npi,
    source_addr: pdu.destination_addr,
    dest_addr_ton: pdu.source_addr_ton,
    dest_addr_npi: pdu.source_addr_npi,
    destination_addr: pdu.source_addr,
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    data_coding: 0,
    short_message: Buffer.from(text, 'ascii'),
  };
  if (state.receiptTlvs) {
    receipt.receipted_message_id = messageId;
    receipt.message_state = MESSAGE_STATE[stat] === undefined ? 7 : MESSAGE_STATE[stat];
  }
  session.deliver_sm(receipt);
}

function onSubmit(session, pdu) {
  const sm = pdu.short_message || {};
  const udh = sm.udh && sm.udh.length ? Buffer.concat(sm.udh).toString('hex') : null;
  const text = typeof sm.message === 'string' ? sm.message : Buffer.from(sm.message || []).toString('hex');
  state.inFlight += 1;
  const inFlight = state.inFlight;
  const answer = () => {
    state.inFlight -= 1;
    if (state.throttle > 0) {
      state.throttle -= 1;
      emit('throttled', { destination_addr: pdu.destination_addr });
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    if (state.reject > 0) {
      state.reject -= 1;
      emit('rejected', { destination_addr: pdu.destination_addr });
      session.send(pdu.response({ command_status: smpp.ESME_RINVDSTADR }));
      return;
    }
    const messageId = 'smsc-' + state.nextId++;
    emit('submit', {
      message_id: messageId,
      source_addr: pdu.source_addr,
      source_addr_ton: pdu.source_addr_ton,
      destination_addr: pdu.destination_addr,
      dest_addr_ton: pdu.dest_addr_ton,
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      validity_period: pdu.validity_period instanceof Date ? pdu.validity_period.toISOString() : pdu.validity_period || null,
      udh,
      text,
      in_flight: inFlight,
    });
    session.send(pdu.response({ message_id: messageId }));
    const concat = concatInfo(sm.udh);
    if (!concat) {
      emit('message', { message_ids: [messageId], text, parts: 1, data_coding: pdu.data_coding });
    } else {
      const key = `${pdu.source_addr}|${pdu.destination_addr}|${concat.ref}`;
      const entry = state.parts.get(key) || { total: concat.total, parts: new Map() };
      entry.parts.set(concat.seq, { messageId, text });
      state.parts.set(key, entry);
      if (entry.parts.size === entry.total) {
        state.parts.delete(key);
        const ordered = [...entry.parts.keys()].sort((a, b) => a - b).map((k) => entry.parts.get(k));
        emit('message', {
          message_ids: ordered.map((p) => p.messageId),
          text: ordered.map((p) => p.text).join(''),
          parts: entry.total,
          data_coding: pdu.data_coding,
        });
      }
    }
    if (pdu.registered_delivery & 0x01) {
      setImmediate(() => sendReceipt(session, pdu, messageId));
    }
  };
  if (state.delayMs > 0) setTimeout(answer, state.delayMs);
  else answer();
}

const server = smpp.createServer((session) => {
  session.on('error', () => {});
  session.on('bind_transceiver', (pdu) => {
    emit('bind', { system_id: pdu.system_id, password: pdu.password, interface_version: pdu.interface_version });
    if (pdu.password !== 'secret') {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    state.sessions.add(session);
    session.send(pdu.response({ system_id: 'node-smsc' }));
  });
  session.on('submit_sm', (pdu) => onSubmit(session, pdu));
  session.on('enquire_link', (pdu) => {
    emit('enquire_link', {});
    session.send(pdu.response());
  });
  session.on('deliver_sm_resp', (pdu) => emit('deliver_sm_resp', { command_status: pdu.command_status }));
  session.on('unbind', (pdu) => {
    emit('unbind', {});
    session.send(pdu.response());
    session.close();
  });
  session.on('close', () => {
    if (state.sessions.delete(session)) emit('closed', {});
  });
});

function onCommand(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    emit('error', { message: 'not JSON: ' + line });
    return;
  }
  switch (cmd.cmd) {
    case 'mo': {
      const gsm = smpp.encodings.ASCII.match(cmd.text);
      const body = gsm ? smpp.encodings.ASCII.encode(cmd.text) : smpp.encodings.UCS2.encode(cmd.text);
      for (const session of state.sessions) {
        session.deliver_sm({
          source_addr_ton: 1,
          source_addr_npi: 1,
          source_addr: cmd.from,
          dest_addr_ton: 1,
          dest_addr_npi: 1,
          destination_addr: cmd.to,
          esm_class: 0,
          data_coding: gsm ? 0 : 8,
          short_message: body,
        });
      }
      emit('mo_sent', { sessions: state.sessions.size });
      break;
    }
    case 'throttle':
      state.throttle = cmd.count;
      emit('ok', { cmd: cmd.cmd });
      break;
    case 'reject':
      state.reject = cmd.count;
      emit('ok', { cmd: cmd.cmd });
      break;
    case 'delay':
      state.delayMs = cmd.ms;
      emit('ok', { cmd: cmd.cmd });
      break;
    case 'stat':
      state.stat = cmd.value;
      emit('ok', { cmd: cmd.cmd });
      break;
    case 'receipts':
      state.receiptTlvs = cmd.tlvs !== false;
      emit('ok', { cmd: cmd.cmd });
      break;
    case 'drop': {
      const n = state.sessions.size;
      for (const session of state.sessions) session.destroy();
      emit('dropped', { sessions: n });
      break;
    }
    case 'exit':
      process.exit(0);
      break;
    default:
      emit('error', { message: 'unknown command ' + cmd.cmd });
  }
}

readline.createInterface({ input: process.stdin }).on('line', onCommand);
// The test owns this process: when its end of stdin closes, stop.
process.stdin.on('end', () => process.exit(0));

const port = Number(process.argv[2] || 0);
server.listen(port, '127.0.0.1', () => emit('listening', { port: server.address().port }));
