// Message of the day, asked of the server itself:
//
//     <iq type='get' to='example.org' id='m1'><motd xmlns='urn:example:motd'/></iq>
//     <iq type='result' from='example.org' id='m1' ...><motd xmlns='urn:example:motd'>Welcome</motd></iq>
//
// The text is the `text` setting of the plugin's config table (default
// "Welcome"); the kernel checks the table against `settings` below, so any
// other key is refused before this code runs. The feature is in the host's
// disco#info.
//
// Built against waxwing:plugin@2.4.0 (plugin-abi/wit) with componentize-js
// (plugins/js/build.sh). How WIT maps onto JavaScript here: the `guest` export
// is the object of that name; names are camelCase (`handleStanza`,
// `payloadNs`); enums are their kebab-case strings ('iq', 'every-account');
// variants are `{ tag, val }`; option<T> is the value or undefined; a result's
// ok is the return value and its error is thrown.

import { log } from 'waxwing:plugin/host@2.4.0';

const NS = 'urn:example:motd';

// The config, as `init` parsed it. Config only: the kernel calls `init` on
// every fresh instance, so this is set before any stanza reaches one. Anything
// the plugin must remember would go in kv or mem, never here.
let text = 'Welcome';

function escape(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;');
}

export const guest = {
  describe() {
    return {
      name: 'motd',
      version: '0.1.0',
      features: [NS],
      identities: [],
      items: [],
      extensions: [],
      routes: [
        {
          kind: 'iq',
          types: ['get'],
          payloadNs: NS,
          payloadName: 'motd',
          to: 'host',
          priority: 0,
          unauthenticated: false,
        },
      ],
      filters: [],
      filterScope: 'every-account',
      events: [],
      serviceSubdomain: undefined,
      capabilities: [],
      settings: [
        {
          key: 'text',
          type: { tag: 'text' },
          default: JSON.stringify('Welcome'),
          doc: 'The message of the day, answered to <motd xmlns="urn:example:motd"/>.',
        },
      ],
      publishes: [],
      reads: [],
    };
  },

  init(config) {
    const parsed = JSON.parse(config);
    if (typeof parsed.text !== 'string') {
      // The kernel checked the type already; an error here refuses the load.
      throw `motd: text must be a string, not ${JSON.stringify(parsed.text)}`;
    }
    text = parsed.text;
    log('debug', `motd: ${text.length} characters`);
    return { streamFeatures: [] };
  },

  handleStanza(stanza) {
    const reply =
      `<iq type='result' id='${escape(stanza.id)}' from='${escape(stanza.to)}' to='${escape(stanza.from)}'>` +
      `<motd xmlns='${NS}'>${escape(text)}</motd></iq>`;
    return { tag: 'reply', val: reply };
  },

  handleEvent(_event) {},

  filter(_stanza) {
    return { tag: 'pass' };
  },

  migrate(_fromVersion) {},
};
