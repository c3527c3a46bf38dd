/*
 * Copyright fabric-peer-k8s authors. All Rights Reserved.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

'use strict';

// The asset contract used by the fabric-peer-k8s end-to-end tests: assets are
// JSON documents {ID, Value, Owner} stored under their ID. Besides create,
// read, update and delete, it reports which build of itself runs (Version,
// Info) and can be asked to exit (Crash) so that the peer's relaunch path can
// be exercised.

const fs = require('fs');
const path = require('path');
const { Contract } = require('fabric-contract-api');

// BUILD identifies the source revision; the end-to-end upgrade test rewrites
// it in a temporary copy to produce a package with different content.
const BUILD = 'node-asset-1';

// CRASH_EXIT_CODE is the exit status of Crash.
const CRASH_EXIT_CODE = 3;

// installedVersion is the version of a dependency as installed in
// node_modules, i.e. what the build's npm install picked.
function installedVersion(name) {
    const dir = path.dirname(require.resolve(name));
    let d = dir;
    while (d !== path.dirname(d)) {
        const f = path.join(d, 'package.json');
        if (fs.existsSync(f)) {
            const pkg = JSON.parse(fs.readFileSync(f, 'utf8'));
            if (pkg.name === name) {
                return pkg.version;
            }
        }
        d = path.dirname(d);
    }
    return 'unknown';
}

class AssetContract extends Contract {
    async AssetExists(ctx, id) {
        const data = await ctx.stub.getState(id);
        return data && data.length > 0 ? 'true' : 'false';
    }

    async CreateAsset(ctx, id, value, owner) {
        if (await this.AssetExists(ctx, id) === 'true') {
            throw new Error(`asset ${id} already exists`);
        }
        const asset = { ID: id, Value: value, Owner: owner };
        await ctx.stub.putState(id, Buffer.from(JSON.stringify(asset)));
        return JSON.stringify(asset);
    }

    async ReadAsset(ctx, id) {
        const data = await ctx.stub.getState(id);
        if (!data || data.length === 0) {
            throw new Error(`asset ${id} does not exist`);
        }
        return data.toString();
    }

    async UpdateAsset(ctx, id, value, owner) {
        if (await this.AssetExists(ctx, id) !== 'true') {
            throw new Error(`asset ${id} does not exist`);
        }
        const asset = { ID: id, Value: value, Owner: owner };
        await ctx.stub.putState(id, Buffer.from(JSON.stringify(asset)));
        return JSON.stringify(asset);
    }

    async DeleteAsset(ctx, id) {
        if (await this.AssetExists(ctx, id) !== 'true') {
            throw new Error(`asset ${id} does not exist`);
        }
        await ctx.stub.deleteState(id);
    }

    async Version() {
        return BUILD;
    }

    async Info() {
        return JSON.stringify({
            build: BUILD,
            ccid: process.env.CORE_CHAINCODE_ID_NAME,
            node: process.version,
            pid: String(process.pid),
            uid: String(process.getuid()),
            shim: installedVersion('fabric-shim'),
            contractApi: installedVersion('fabric-contract-api'),
        });
    }

    async Crash() {
        console.error(`node-asset chaincode: crash requested, exiting with status ${CRASH_EXIT_CODE}`);
        process.exit(CRASH_EXIT_CODE);
    }
}

AssetContract.BUILD = BUILD;

module.exports = AssetContract;
