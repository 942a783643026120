// The dashboard page: a live channel (Server-Sent Events from /events), forms that call
// the JSON API, a message table and a per-topic message-rate chart. No libraries.
'use strict';

(function () {
  const MAX_ROWS = 500; // the table keeps the newest rows only
  const WINDOW = 60; // seconds shown by the chart
  const SERIES = 6; // topics drawn; the rest are summed as "other"
  const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#64748b'];

  const $ = (id) => document.getElementById(id);
  let received = 0;
  let skipped = 0;

  // ---- connection status ----

  function showStatus(s) {
    const pill = $('status');
    pill.dataset.state = s.state;
    pill.textContent = s.state;
    let detail;
    if (s.state === 'connected') {
      detail = 'broker ' + s.broker;
    } else if (s.error) {
      detail = (s.code !== null && s.code !== undefined ? 'code ' + s.code + ': ' : '') + s.error;
    } else {
      detail = 'waiting for the broker at ' + s.broker;
    }
    $('status-detail').textContent = detail;
    $('status-detail').title = detail;
  }

  function showTopics(topics) {
    const list = $('topics');
    list.replaceChildren();
    if (topics.length === 0) {
      const li = document.createElement('li');
      li.className = 'empty';
      li.textContent = 'none';
      list.append(li);
      return;
    }
    for (const t of topics) {
      const li = document.createElement('li');
      li.dataset.filter = t.filter;
      li.textContent = t.filter;
      const q = document.createElement('span');
      q.className = 'q';
      q.textContent = 'qos ' + t.qos;
      li.append(q);
      list.append(li);
    }
  }

  // ---- message table ----

  function pad(n, width) {
    return String(n).padStart(width, '0');
  }

  function clock(ms) {
    const d = new Date(ms);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) +
      '.' + pad(d.getMilliseconds(), 3);
  }

  function addRow(m) {
    const tr = document.createElement('tr');
    tr.className = 'new';
    tr.dataset.topic = m.topic;
    const cells = [
      ['time', clock(m.t)],
      ['topic', m.topic],
      ['qos', String(m.qos) + (m.retain ? ' R' : '')],
    ];
    for (const [cls, text] of cells) {
      const td = document.createElement('td');
      td.className = cls;
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement('td');
    td.className = 'payload' + (m.binary ? ' hex' : '');
    if (m.binary) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = 'hex';
      td.append(tag);
    }
    const text = document.createElement('span');
    text.className = 'value';
    text.textContent = m.payload;
    td.append(text);
    if (m.truncated) {
      const more = document.createElement('span');
      more.className = 'more';
      more.textContent = ' … (' + m.size + ' bytes)';
      td.append(more);
    }
    tr.append(td);
    const body = $('messages').tBodies[0];
    body.prepend(tr);
    while (body.rows.length > MAX_ROWS) {
      body.deleteRow(body.rows.length - 1);
    }
    received += 1;
    $('count').textContent = received + (received > MAX_ROWS ? ' (newest ' + MAX_ROWS + ' shown)' : '');
  }

  // ---- message rate chart ----

  // topic -> counts per second, oldest first, the last entry is the current second.
  const rates = new Map();
  let now = Math.floor(Date.now() / 1000);

  function advance() {
    const sec = Math.floor(Date.now() / 1000);
    const steps = Math.min(sec - now, WINDOW);
    if (steps > 0) {
      for (const [topic, counts] of rates) {
        counts.splice(0, steps);
        for (let i = 0; i < steps; i++) counts.push(0);
        if (counts.every((c) => c === 0)) rates.delete(topic);
      }
    }
    if (sec > now) now = sec;
  }

  function count(topic) {
    advance();
    let counts = rates.get(topic);
    if (!counts) {
      counts = new Array(WINDOW).fill(0);
      rates.set(topic, counts);
    }
    counts[WINDOW - 1] += 1;
  }

  function series() {
    const all = [...rates.entries()]
      .map(([topic, counts]) => ({ topic, counts, total: counts.reduce((a, b) => a + b, 0) }))
      .sort((a, b) => b.total - a.total || a.topic.localeCompare(b.topic));
    const shown = all.slice(0, SERIES);
    const rest = all.slice(SERIES);
    if (rest.length > 0) {
      const counts = new Array(WINDOW).fill(0);
      for (const s of rest) s.counts.forEach((c, i) => { counts[i] += c; });
      shown.push({ topic: 'other (' + rest.length + ' topics)', counts, total: 0 });
    }
    return shown;
  }

  function draw() {
    advance();
    const canvas = $('rate-chart');
    // The second the chart is at (tests wait on it instead of sleeping).
    canvas.dataset.second = String(now);
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);

    const lines = series();
    // The current second is still filling up: draw the completed ones.
    const points = WINDOW - 1;
    let max = 1;
    for (const s of lines) for (let i = 0; i < points; i++) max = Math.max(max, s.counts[i]);
    max = niceCeil(max);

    const left = 34;
    const right = 8;
    const top = 8;
    const bottom = 20;
    const pw = w - left - right;
    const ph = h - top - bottom;
    const x = (i) => left + (pw * i) / (points - 1);
    const y = (v) => top + ph - (ph * v) / max;

    ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#e2e8f0';
    ctx.fillStyle = '#637083';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y(v)) + 0.5);
      ctx.lineTo(w - right, Math.round(y(v)) + 0.5);
      ctx.stroke();
      ctx.fillText(String(Math.round(v * 10) / 10), left - 4, y(v));
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const ago of [60, 45, 30, 15, 0]) {
      const i = Math.max(0, points - 1 - ago);
      ctx.textAlign = i === 0 ? 'left' : ago === 0 ? 'right' : 'center';
      ctx.fillText(ago === 0 ? 'now' : '-' + ago + 's', x(i), h - bottom + 5);
    }

    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    lines.forEach((s, n) => {
      ctx.strokeStyle = COLORS[n % COLORS.length];
      ctx.beginPath();
      for (let i = 0; i < points; i++) {
        if (i === 0) ctx.moveTo(x(i), y(s.counts[i]));
        else ctx.lineTo(x(i), y(s.counts[i]));
      }
      ctx.stroke();
    });

    const legend = $('legend');
    legend.replaceChildren();
    lines.forEach((s, n) => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'sw';
      sw.style.background = COLORS[n % COLORS.length];
      li.append(sw, document.createTextNode(s.topic + ' ' + s.counts[points - 1] + '/s'));
      legend.append(li);
    });
  }

  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // ---- live channel ----

  function connect() {
    const live = $('live');
    const es = new EventSource('/events');
    es.onopen = () => {
      live.dataset.state = 'open';
      live.textContent = 'live';
    };
    es.onerror = () => {
      // EventSource retries by itself.
      live.dataset.state = 'lost';
      live.textContent = 'live channel lost, retrying';
    };
    es.addEventListener('status', (e) => showStatus(JSON.parse(e.data)));
    es.addEventListener('topics', (e) => showTopics(JSON.parse(e.data)));
    es.addEventListener('message', (e) => {
      const m = JSON.parse(e.data);
      addRow(m);
      count(m.topic);
    });
    es.addEventListener('skipped', (e) => {
      skipped += JSON.parse(e.data).n;
      const note = $('skipped');
      note.hidden = false;
      note.textContent = 'This tab fell behind: ' + skipped + ' messages were skipped.';
    });
  }

  // ---- forms ----

  async function post(path, body) {
    let res;
    try {
      res = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (e) {
      return { ok: false, status: 0, data: { error: 'the server cannot be reached: ' + e.message } };
    }
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = { error: res.status + ' ' + res.statusText };
    }
    return { ok: res.ok, status: res.status, data };
  }

  function fieldError(input, box, message) {
    box.hidden = !message;
    box.textContent = message || '';
    if (input) input.setAttribute('aria-invalid', message ? 'true' : 'false');
  }

  $('subscribe-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = $('subscribe-btn');
    button.disabled = true;
    const filter = $('filter').value;
    const res = await post('/api/subscribe', { filter, qos: Number($('filter-qos').value) });
    button.disabled = false;
    if (res.ok) {
      fieldError($('filter'), $('filter-error'), '');
      showTopics(res.data);
    } else {
      const invalid = res.data.field === 'filter';
      fieldError(invalid ? $('filter') : null, $('filter-error'),
        invalid ? 'invalid topic filter: ' + res.data.error : res.data.error);
    }
  });

  $('filter').addEventListener('input', () => fieldError($('filter'), $('filter-error'), ''));

  $('unsubscribe-all').addEventListener('click', async () => {
    const res = await post('/api/unsubscribe-all', {});
    if (res.ok) {
      showTopics(res.data);
      fieldError($('filter'), $('filter-error'), '');
    } else {
      fieldError(null, $('filter-error'), res.data.error);
    }
  });

  $('publish-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = $('publish-btn');
    const result = $('publish-result');
    fieldError($('pub-topic'), $('pub-topic-error'), '');
    fieldError($('pub-payload'), $('pub-payload-error'), '');
    result.className = 'result';
    result.textContent = 'publishing…';
    button.disabled = true;
    const res = await post('/api/publish', {
      topic: $('pub-topic').value,
      payload: $('pub-payload').value,
      qos: Number($('pub-qos').value),
      retain: $('pub-retain').checked,
      hex: $('pub-hex').checked,
    });
    button.disabled = false;
    if (res.ok) {
      result.className = 'result ok';
      const qos = Number($('pub-qos').value);
      result.textContent = 'published' + (qos > 0 ? ': the broker acknowledged it' : '') +
        ' (' + clock(Date.now()) + ')';
    } else if (res.data.field === 'topic') {
      result.textContent = '';
      fieldError($('pub-topic'), $('pub-topic-error'), 'invalid topic: ' + res.data.error);
    } else if (res.data.field === 'payload') {
      result.textContent = '';
      fieldError($('pub-payload'), $('pub-payload-error'), res.data.error);
    } else {
      result.className = 'result bad';
      result.textContent = 'not published: ' + res.data.error;
    }
  });

  connect();
  draw();
  setInterval(draw, 500);
})();
