// @ts-nocheck
// In-page half of tests/browser/test_hostile.py: installs window.hostile.
/** A payload that runs calls window.__pwn(): count those calls from now on. */
function countHits() {
  window.__pwned = 0;
  window.__pwn = () => { window.__pwned += 1; };
}

window.hostile = {
  check: (scopeSelector) => {
  const scope = document.querySelector(scopeSelector);
  const bad = [];
  const note = (el, why) => {
    const owner = el.closest && el.closest('.nbchat-message, [data-role]');
    bad.push({ id: owner ? (owner.dataset.id || owner.dataset.case || '') : '', why });
  };
  const banned = 'script, iframe, frame, object, embed, form, base, link, meta, style, svg, '
    + 'video, audio, source, picture, textarea, select';
  for (const el of scope.querySelectorAll(banned)) note(el, '<' + el.localName + '>');
  for (const el of scope.querySelectorAll('img')) {
    const src = el.getAttribute('src') || '';
    if (!/^data:image\/(png|jpeg|gif|webp);/i.test(src)) note(el, 'img ' + src.slice(0, 40));
  }
  for (const el of scope.querySelectorAll('input')) {
    if (el.type !== 'checkbox' || !el.disabled) note(el, 'input ' + el.type);
  }
  for (const el of scope.querySelectorAll('*')) {
    for (const { name, value } of Array.from(el.attributes)) {
      if (/^on/i.test(name)) note(el, 'handler ' + name);
      // nbchat's own progress width; an empty style (the host page touched el.style) does nothing
      const ours = name === 'style' && (el.matches('.nbchat-progress-fill') || !value.trim());
      if (!ours && ['style', 'id', 'name', 'srcset', 'poster', 'action', 'formaction', 'xlink:href'].includes(name.toLowerCase())) {
        note(el, 'attribute ' + name + '=' + JSON.stringify(value).slice(0, 60) + ' on <' + el.localName + ' class="' + el.className + '">');
      }
      if (name === 'href' && !/^(https?:|mailto:)/i.test(value.trim())) note(el, 'href ' + value.slice(0, 40));
    }
    const position = getComputedStyle(el).position;
    if ((position === 'fixed' || position === 'sticky') && !el.closest('.nbchat-jump')) note(el, 'position ' + position);
  }
  const input = document.querySelector('.nbchat-input');
  if (input) {
    input.scrollIntoView({ block: 'center' }); // what covers it is measured where it shows
    const box = input.getBoundingClientRect();
    const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    if (top !== input) bad.push({ id: '', why: 'the input box is covered by ' + (top ? top.outerHTML.slice(0, 60) : 'nothing') });
  }
  return { bad, pwned: window.__pwned || 0, url: location.href };
},
  streamAll: async ([cases, chunk]) => {
  const nb = window.nb;
  countHits();
  const messages = cases.map((_, i) => nb.message('c' + i, 'assistant', '', { status: 'streaming' }));
  nb.mount(nb.snapshot({ phase: 'streaming', messages }));
  const longest = Math.max(...cases.map((c) => c.length));
  let seq = 0;
  for (let at = 0; at < longest; at += chunk) {
    const ops = [];
    cases.forEach((text, i) => { const piece = text.slice(at, at + chunk); if (piece) ops.push(['c' + i, piece]); });
    seq += 1;
    nb.custom(nb.batch(seq, ops));
    await nb.frame();
  }
  nb.setSnapshot(nb.snapshot({ seq, phase: 'done', messages: cases.map((text, i) => nb.message('c' + i, 'assistant', text)) }));
  await nb.frame(); await nb.frame();
  return document.querySelectorAll('.nbchat-message').length;
},
  showAll: async (cases) => {
  const nb = window.nb;
  countHits();
  nb.mount(nb.snapshot({ phase: 'done', messages: cases.map((text, i) => nb.message('c' + i, 'assistant', text)) }));
  await nb.frame(); await nb.frame();
  return document.querySelectorAll('.nbchat-message').length;
},
  // The same payloads in every other place a reply's text goes: reasoning, a tool
  // call's name, arguments and result, an error, a progress step, a refusal.
  showEverywhere: async (cases) => {
  const nb = window.nb;
  countHits();
  const messages = cases.map((text, i) => nb.message('c' + i, 'assistant', '', {
    status: 'error',
    reasoning: text,
    refusal: text,
    tool_calls: [nb.toolCall('t' + i, text, { arguments: text, result: text, status: 'done' })],
    error: { code: 'PROVIDER_ERROR', message: text, hint: text },
    progress: { stage: text, message: text, percent: 50 },
    result: text,
  }));
  nb.mount(nb.snapshot({ phase: 'error', messages }));
  for (const el of document.querySelectorAll('details')) el.open = true;
  await nb.frame(); await nb.frame();
  return document.querySelectorAll('.nbchat-message').length;
},
  unsafeAll: async (cases) => {
  countHits();
  window.nb.unsafe(cases.map((c) => '<div data-case="' + c.length + '">' + c + '</div>').join(''));
  await new Promise((resolve) => setTimeout(resolve, 500));
  return true;
},
};
