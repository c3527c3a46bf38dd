/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

'use strict';

// The bench's Caliper workload on the kv chaincode (integration/chaincode/kv),
// in the manner of Caliper's asset-transfer samples:
//
//   op: create   put of a new key per transaction (submit: endorse, order,
//                commit status), the value a small JSON asset
//   op: read     get of a key that a create round of the same run wrote
//                (evaluate), spread over the workers
//
// Caliper's report has only min/avg/max latency, so every worker keeps one
// record per transaction, from the TxStatus the connector returns (id,
// status, time_create, time_final in ms since the epoch), and writes them at
// cleanup as JSON lines to <recordsDir>/<round>.w<worker>.jsonl; the bench
// computes p50/p95 and TPS from those files and checks the counts against
// Caliper's own summary (integration/bench/caliperresult.go).
//
// Round arguments (the benchmark configuration the bench generates):
//
//   op               create | read
//   round            the round's label (names the record files)
//   recordsDir       where the record files go (absolute)
//   contractId       the chaincode (kv1)
//   invokerMspId     the organization whose gateway and identity are used
//   invokerIdentity  the identity's name in the network configuration
//   valueBytes       create: size of the value's padding (default 64)
//   keysFrom         read: labels of the create rounds whose keys are read

const fs = require('fs');
const path = require('path');
const { WorkloadModuleBase } = require('@hyperledger/caliper-core');

/**
 * The record file of a worker in a round.
 * @param {string} dir the records directory
 * @param {string} round the round's label
 * @param {number} worker the worker's index
 * @return {string} the path
 */
function recordFile(dir, round, worker) {
    return path.join(dir, `${round}.w${worker}.jsonl`);
}

/**
 * The keys that create rounds wrote successfully, from their record files (all
 * workers), sorted so that every worker sees the same list.
 * @param {string} dir the records directory
 * @param {string[]} rounds labels of the create rounds
 * @return {string[]} the keys
 */
function createdKeys(dir, rounds) {
    const keys = [];
    for (const name of fs.readdirSync(dir).sort()) {
        const round = name.replace(/\.w\d+\.jsonl$/, '');
        if (round === name || !rounds.includes(round)) {
            continue;
        }
        for (const line of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
            if (line.trim() === '') {
                continue;
            }
            const r = JSON.parse(line);
            if (r.status === 'success' && r.key) {
                keys.push(r.key);
            }
        }
    }
    return keys.sort();
}

/**
 * Workload module of the create and read rounds.
 */
class KVWorkload extends WorkloadModuleBase {
    /**
     * Checks the round's arguments and, for a read round, loads the created keys.
     * @param {number} workerIndex the worker's index
     * @param {number} totalWorkers the number of workers
     * @param {number} roundIndex the round's index
     * @param {object} roundArguments the round's arguments
     * @param {object} sutAdapter the Fabric connector
     * @param {object} sutContext the connector's context
     */
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        const a = roundArguments || {};
        for (const k of ['op', 'round', 'recordsDir', 'contractId']) {
            if (!a[k]) {
                throw new Error(`kv workload: round ${roundIndex}: argument ${k} is missing`);
            }
        }
        if (a.op !== 'create' && a.op !== 'read') {
            throw new Error(`kv workload: round ${a.round}: op ${a.op}: want create or read`);
        }
        this.records = [];
        this.txIndex = 0;
        this.padding = 'x'.repeat(a.valueBytes === undefined ? 64 : a.valueBytes);
        if (a.op === 'read') {
            const from = a.keysFrom || [];
            this.keys = createdKeys(a.recordsDir, from);
            if (this.keys.length === 0) {
                throw new Error(`kv workload: round ${a.round}: no key was created by rounds ${from.join(', ')} (records in ${a.recordsDir})`);
            }
        }
    }

    /**
     * The request of the next transaction.
     * @return {{key: string, request: object}} the key and the connector request
     */
    nextRequest() {
        const a = this.roundArguments;
        const i = this.txIndex++;
        const request = {
            contractId: a.contractId,
            invokerMspId: a.invokerMspId,
            invokerIdentity: a.invokerIdentity,
        };
        let key;
        if (a.op === 'create') {
            key = `${a.round}.w${this.workerIndex}.${i}`;
            const asset = { id: key, owner: `worker${this.workerIndex}`, value: i, padding: this.padding };
            Object.assign(request, { contractFunction: 'put', contractArguments: [key, JSON.stringify(asset)], readOnly: false });
        } else {
            // Worker w reads keys w, w+W, w+2W, ... of the list, wrapping around.
            key = this.keys[(this.workerIndex + i * this.totalWorkers) % this.keys.length];
            Object.assign(request, { contractFunction: 'get', contractArguments: [key], readOnly: true });
        }
        return { key, request };
    }

    /**
     * Sends one transaction and keeps its record.
     */
    async submitTransaction() {
        const { key, request } = this.nextRequest();
        const start = Date.now();
        let status;
        try {
            status = await this.sutAdapter.sendRequests(request);
        } catch (err) {
            // The connector reports a failed transaction in its TxStatus;
            // an exception is an error of the set-up, which ends the round.
            this.records.push({ key, status: 'error', create: start, final: Date.now(), error: String(err) });
            throw err;
        }
        const s = Array.isArray(status) ? status[0] : status;
        this.records.push({
            id: s.GetID(),
            key,
            status: s.GetStatus(),
            create: s.GetTimeCreate(),
            final: s.GetTimeFinal(),
        });
    }

    /**
     * Writes the worker's records of the round.
     */
    async cleanupWorkloadModule() {
        const a = this.roundArguments;
        const lines = this.records.map((r) => JSON.stringify(r)).join('\n');
        fs.mkdirSync(a.recordsDir, { recursive: true });
        fs.writeFileSync(recordFile(a.recordsDir, a.round, this.workerIndex), lines === '' ? '' : lines + '\n');
    }
}

/**
 * Caliper's entry point.
 * @return {KVWorkload} a new workload module
 */
function createWorkloadModule() {
    return new KVWorkload();
}

module.exports.createWorkloadModule = createWorkloadModule;
module.exports.KVWorkload = KVWorkload;
module.exports.createdKeys = createdKeys;
