/*
 * Copyright fabric-peer-k8s authors. All Rights Reserved.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

// The TypeScript asset contract of the fabric-peer-k8s end-to-end tests. It
// is compiled (npm run build) before it is packaged: the package carries
// dist/ next to the sources, and the build on the peer only installs the
// production dependencies.

import { Context, Contract, Info, Returns, Transaction } from 'fabric-contract-api';

// BUILD identifies the source revision of this chaincode.
export const BUILD = 'ts-asset-1';

interface Asset {
    ID: string;
    Value: string;
    Owner: string;
}

@Info({ title: 'AssetContract', description: 'Assets stored as JSON under their ID' })
export class AssetContract extends Contract {
    @Transaction(false)
    @Returns('boolean')
    public async AssetExists(ctx: Context, id: string): Promise<boolean> {
        const data = await ctx.stub.getState(id);
        return data !== undefined && data.length > 0;
    }

    @Transaction()
    @Returns('string')
    public async CreateAsset(ctx: Context, id: string, value: string, owner: string): Promise<string> {
        if (await this.AssetExists(ctx, id)) {
            throw new Error(`asset ${id} already exists`);
        }
        return this.put(ctx, { ID: id, Value: value, Owner: owner });
    }

    @Transaction(false)
    @Returns('string')
    public async ReadAsset(ctx: Context, id: string): Promise<string> {
        const data = await ctx.stub.getState(id);
        if (data === undefined || data.length === 0) {
            throw new Error(`asset ${id} does not exist`);
        }
        return Buffer.from(data).toString('utf8');
    }

    @Transaction()
    @Returns('string')
    public async UpdateAsset(ctx: Context, id: string, value: string, owner: string): Promise<string> {
        if (!(await this.AssetExists(ctx, id))) {
            throw new Error(`asset ${id} does not exist`);
        }
        return this.put(ctx, { ID: id, Value: value, Owner: owner });
    }

    @Transaction()
    public async DeleteAsset(ctx: Context, id: string): Promise<void> {
        if (!(await this.AssetExists(ctx, id))) {
            throw new Error(`asset ${id} does not exist`);
        }
        await ctx.stub.deleteState(id);
    }

    @Transaction(false)
    @Returns('string')
    public async Version(): Promise<string> {
        return BUILD;
    }

    private async put(ctx: Context, asset: Asset): Promise<string> {
        const json = JSON.stringify(asset);
        await ctx.stub.putState(asset.ID, Buffer.from(json));
        return json;
    }
}
