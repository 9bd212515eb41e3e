# Generates reference hash ids with epcis-event-hash-generator 1.9.3.
import json, os, sys, logging, tempfile
from epcis_event_hash_generator.__main__ import epcis_hash_from_file
from epcis_event_hash_generator import json_to_py
root = sys.argv[1]
out = {}
pre = {}
for dp, dn, fn in os.walk(root):
    for f in sorted(fn):
        if not f.endswith('.jsonld'): continue
        p = os.path.join(dp, f)
        rel = os.path.relpath(p, root)
        path = p
        doc = json.load(open(p))
        if doc.get('type') == 'EPCISQueryDocument':
            # tool reads epcisBody.eventList only: rewrap the query result events as an EPCISDocument
            evs = doc['epcisBody']['queryResults']['resultsBody']['eventList']
            wrapped = {'@context': doc['@context'], 'type': 'EPCISDocument', 'schemaVersion': doc.get('schemaVersion'), 'creationDate': doc.get('creationDate'), 'epcisBody': {'eventList': evs}}
            tf = tempfile.NamedTemporaryFile('w', suffix='.jsonld', delete=False)
            json.dump(wrapped, tf); tf.close(); path = tf.name
        json_to_py._namespaces.clear()  # the tool keeps prefixes in a global across files
        try:
            h, ph = epcis_hash_from_file(path)
        except Exception as e:
            print('ERROR', rel, repr(e), file=sys.stderr); continue
        out[rel] = h; pre[rel] = ph
json.dump(dict(sorted(out.items())), open(sys.argv[2], 'w'), indent=1)
json.dump(dict(sorted(pre.items())), open(sys.argv[3], 'w'), indent=1, ensure_ascii=False)
