//! The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.json`.

use serde_json::{json, Value};

fn op(summary: &str, responses: Value) -> Value {
    json!({"summary": summary, "responses": responses})
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// Every path the router serves, with its operations.
pub fn document() -> Value {
    let ok = |d: &str| json!({"description": d, "content": {"application/json": {}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "WANT chain node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Amounts are base units (1 WANT = 1,000,000) as decimal strings. Errors are {\"error\": {\"code\", \"message\"}} with a stable snake_case code."
        },
        "paths": {
            "/v1/transactions": {"post": {
                "summary": "Submit a signed transaction",
                "parameters": [{"name": "wait", "in": "query", "schema": {"enum": ["commit"]}, "description": "wait=commit answers 200 with the receipt once committed"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SignedTransaction"}}, "application/octet-stream": {"description": "the borsh encoding of the signed transaction"}}},
                "responses": {"202": ok("admitted durably: {\"id\"}"), "200": ok("committed (wait=commit)"), "400": error_response("refused"), "409": error_response("duplicate"), "413": error_response("too large"), "429": error_response("mempool full")}
            }},
            "/v1/transactions/batch": {"post": op("Submit up to 5,000 signed transactions (JSON array, or borsh Vec as application/octet-stream)", json!({"200": ok("{\"results\": [{\"id\"} | {\"error\"}]} in request order"), "400": error_response("malformed")}))},
            "/v1/transactions/{id}": {"get": {
                "summary": "A transaction with its receipt, block and Merkle inclusion proof",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("committed or pending transaction"), "404": error_response("unknown")}
            }},
            "/v1/accounts/{address}": {"get": {
                "summary": "Balance and nonce of an account",
                "parameters": [{"name": "address", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("{\"address\", \"balance\", \"nonce\", \"pending_nonce\"}"), "400": error_response("bad address")}
            }},
            "/v1/accounts/{address}/allowances/{spender}": {"get": {
                "summary": "TRC20 allowance",
                "parameters": [{"name": "address", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "spender", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("{\"owner\", \"spender\", \"allowance\"}")}
            }},
            "/v1/blocks/latest": {"get": op("The latest committed block", json!({"200": ok("block")}))},
            "/v1/blocks/{height}": {"get": {
                "summary": "A committed block (full=true adds transactions and receipts)",
                "parameters": [{"name": "height", "in": "path", "required": true, "schema": {"type": "integer"}}, {"name": "full", "in": "query", "schema": {"type": "boolean"}}],
                "responses": {"200": ok("block"), "404": error_response("no such block")}
            }},
            "/v1/blocks/{height}/certificate": {"get": {
                "summary": "The block's commit certificate: Ed25519 signatures of a strict majority of the members over (chain_id, height, block_hash, state_root)",
                "parameters": [{"name": "height", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": ok("{\"height\", \"chain_id\", \"block_hash\", \"state_root\", \"signatures\": [{\"public_key\", \"signature\"}], \"members\", \"required\", \"complete\"} (complete: every member signed)"), "400": error_response("invalid_height"), "404": error_response("certificate_missing: no majority (yet)")}
            }},
            "/v1/cluster/rpc": {"post": {
                "summary": "A signed envelope from another member (Raft RPCs, forwarded transactions, membership changes); answered with the sealed answer",
                "requestBody": {"required": true, "content": {"application/octet-stream": {"description": "borsh Envelope {header, payload, signature}"}}},
                "responses": {"200": {"description": "the sealed answer (application/octet-stream)"}, "403": error_response("envelope_refused; error.reason is malformed, wrong_chain, misaddressed, unknown_sender, bad_signature, payload_mismatch, stale, from_future, replayed, window_full, partitioned")}
            }},
            "/v1/admin/faults": {
                "get": op("The fault-injection plan (nodes with fault_injection = true only; tests)", json!({"200": ok("FaultPlan"), "403": error_response("faults_disabled")})),
                "put": op("Set the fault-injection plan: {seed, drop_per_mille, duplicate_per_mille, corrupt_per_mille, forge_per_mille, delay_ms_max, blocked: [member ids]}", json!({"200": ok("the plan in force"), "400": error_response("invalid_fault_plan, invalid_json"), "403": error_response("faults_disabled")}))
            },
            "/v1/sync/headers": {"get": op("borsh Vec<BlockHeader> of stored blocks from `from` (query: from, count ≤ 2,000), for members catching up", json!({"200": {"description": "application/octet-stream"}}))},
            "/v1/sync/blocks": {"get": op("borsh Vec<Vec<u8>> of stored blocks' canonical bytes from `from` (query: from, count ≤ 256, ≤ 32 MiB)", json!({"200": {"description": "application/octet-stream"}}))},
            "/v1/sync/votes": {"get": op("borsh Vec<(height, Vec<SignedVote>)> from `from` (query: from, count ≤ 2,000)", json!({"200": {"description": "application/octet-stream"}}))},
            "/v1/cluster/votes": {"post": {
                "summary": "Members' signed commit votes (self-authenticating: no envelope). All or nothing",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "maxItems": crate::certs::VOTES_POST_MAX, "items": {"$ref": "#/components/schemas/SignedVote"}}}, "application/octet-stream": {"description": "the borsh encoding of Vec<SignedVote>"}}},
                "responses": {"200": ok("{\"accepted\", \"already_known\"}"), "400": error_response("bad_vote_signature, not_a_member, wrong_chain_id, vote_too_far_ahead, invalid_height, invalid_vote"), "413": error_response("batch_too_large")}
            }},
            "/v1/cluster/votes/{height}": {"get": {
                "summary": "Every commit vote this node holds for a height, its own included",
                "parameters": [{"name": "height", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": ok("{\"height\", \"votes\": [SignedVote]}"), "400": error_response("invalid_height")}
            }},
            "/v1/status": {"get": op("Node, consensus and chain status; divergence is null unless this node's state root differs from the majority's (then it applies no more blocks and answers state_diverged on state reads)", json!({"200": ok("status")}))},
            "/v1/token": {"get": op("WANT token facts: supply, burned, incentive pool", json!({"200": ok("token")}))},
            "/v1/events": {"get": {
                "summary": "WebSocket stream of committed blocks, receipts and token events, resumable with from_height",
                "parameters": [{"name": "from_height", "in": "query", "schema": {"type": "integer"}}, {"name": "kinds", "in": "query", "schema": {"type": "string"}, "description": "comma-separated subset of block,receipt,token_event (default all)"}],
                "responses": {"101": {"description": "switching to WebSocket"}}
            }},
            "/v1/epcis/capture": {
                "post": op("Capture an EPCIS 2.0 EPCISDocument, EPCISQueryDocument or single event (JSON / JSON-LD): each event is signed with the node's capture key, sealed into the blob store and anchored; answers once committed. With a capture token configured, needs Authorization: Bearer <token>", json!({"200": ok("{\"events\": [{\"eventHash\": \"ni:///sha-256;…?ver=CBV2.0\", \"tx\"}]} in document order"), "400": error_response("invalid document: {\"error\": {\"code\", \"message\", \"path\"}}, nothing stored"), "401": error_response("capture_unauthorized"), "409": error_response("duplicate_event"), "413": error_response("too_large"), "501": error_response("capture_disabled")})),
                "options": op("Capture limits (headers GS1-EPCIS-Capture-Limit, GS1-EPCIS-Capture-File-Size-Limit)", json!({"200": ok("limits")}))
            },
            "/v1/trace/events": {"get": op("Anchored records by product, bizStep, location, org, fromMs/toMs (event time), paged (limit ≤ 1,000, cursor = previous next)", json!({"200": ok("{\"events\": [record], \"next\": cursor|null}")}))},
            "/v1/trace/records/{eventHash}": {"get": op("One anchored record with its owner-wrapped key and live grants", json!({"200": ok("record"), "404": error_response("not_found")}))},
            "/v1/trace/lineage/{product}": {"get": op("Products upstream (containers, ingredients) and downstream (contents, outputs) through aggregation and transformation (query: depth ≤ 16)", json!({"200": ok("{\"upstream\", \"downstream\", \"edges\"}")}))},
            "/v1/trace/verify/{product}": {"get": op("Verdict authentic | tampered | unknown for a product (EPC URN or GS1 Digital Link, percent-encoded). Each event (record) carries its public fields, productCount, relation and a proof {record digest, recordPath, products (the chunk of at most 16 naming the product), productsPath}; proofs holds per anchoring transaction {anchorTx digest, signature, header, blockHash, merkle, txIndex}. Check it without trusting the node with want_trace::check_report or `want trace verify`", json!({"200": ok("{\"verdict\", \"failure\", \"anchor\", \"events\", \"proofs\"}")}))},
            "/v1/trace/orgs/{org}": {"get": op("An organisation and its department keys", json!({"200": ok("org"), "404": error_response("not_found")}))},
            "/v1/trace/keys/{address}": {"get": op("A department key: organisation, roles, revocation; whether it is the administrator", json!({"200": ok("key")}))},
            "/v1/trace/kyc/{address}": {"get": op("A KYC attestation: level and hash only", json!({"200": ok("kyc")}))},
            "/v1/trace/tag/{product}": {"get": op("The product's printable tag: its GS1 Digital Link URL on this node and QR code (SVG)", json!({"200": ok("{\"url\", \"qrSvg\"}")}))},
            "/v1/trace/qr/{product}": {"get": op("QR code of the product's tag URL", json!({"200": {"description": "image/svg+xml"}}))},
            "/v1/blobs": {"put": op("Store a sealed blob (≤ 16 MiB); its name is its CIDv1", json!({"201": ok("{\"cid\"}"), "413": error_response("blob_too_large")}))},
            "/v1/cluster/blobs/{cid}": {"get": op("A sealed blob, for another member repairing its store: headers X-Want-Member (its node public key, hex), X-Want-Time and X-Want-Signature (Ed25519, hex) of sha256d(\"WANT-BLOB-MEMBER-READ-v1\" || time_ms BE || cid)", json!({"200": {"description": "application/octet-stream"}, "403": error_response("blob_access_denied"), "404": error_response("blob_not_found"), "500": error_response("blob_tampered")}))},
            "/v1/blobs/{cid}": {"get": op("A sealed blob, for a reader who signs sha256d(\"WANT-BLOB-READ-v1\" || time_ms BE || cid) (headers X-Want-Time, X-Want-Signature) and may read it: a key of the owning organisation, a live grantee, a KYC document's subject or verifier", json!({"200": {"description": "application/octet-stream"}, "403": error_response("blob_access_denied"), "404": error_response("blob_not_found"), "500": error_response("blob_tampered")}))},
            "/openapi.json": {"get": op("This document", json!({"200": ok("OpenAPI")}))},
            "/metrics": {"get": op("Prometheus metrics", json!({"200": {"description": "OpenMetrics text"}}))},
            "/healthz": {"get": op("Liveness", json!({"200": ok("{\"ok\": true}")}))}
        },
        "components": {"schemas": {
            "SignedVote": {"type": "object", "required": ["vote", "node_public_key", "signature"], "properties": {
                "vote": {"type": "object", "required": ["chain_id", "height", "block_hash", "state_root"], "properties": {"chain_id": {"type": "integer"}, "height": {"type": "integer"}, "block_hash": {"type": "string"}, "state_root": {"type": "string"}}},
                "node_public_key": {"type": "string", "description": "Ed25519 public key, 64 hex digits"},
                "signature": {"type": "string", "description": "Ed25519 signature over sha256d(\"WANT-commit-vote-v1\" || borsh(vote)), 128 hex digits"}
            }},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
            "SignedTransaction": {"type": "object", "required": ["tx", "signature"], "properties": {
                "tx": {"type": "object", "required": ["chain_id", "from", "nonce", "fee", "expiry_ms", "call"], "properties": {
                    "chain_id": {"type": "integer"}, "from": {"type": "string", "description": "the sender's address; the signature must be by its key"}, "nonce": {"type": "integer"}, "fee": {"type": "string"},
                    "expiry_ms": {"type": "integer"}, "pow_nonce": {"type": "integer"},
                    "call": {"type": "object", "description": "{\"token\": {\"transfer\": {\"to\", \"amount\"}}} | approve {spender, amount} | transfer_from {from, to, amount} | burn {amount}"}
                }},
                "signature": {"type": "object", "description": "{\"secp256k1\": \"<65-byte hex>\"} or {\"rsa\": {\"public_key\", \"signature\"}}"}
            }}
        }}
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_documented_path_is_an_object_with_operations() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 16);
        for (p, ops) in paths {
            assert!(ops.as_object().is_some_and(|o| !o.is_empty()), "{p}");
        }
    }
}
