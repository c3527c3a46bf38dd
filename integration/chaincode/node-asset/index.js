/*
 * Copyright fabric-peer-k8s authors. All Rights Reserved.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

'use strict';

const AssetContract = require('./lib/asset-contract');

console.log(`node-asset chaincode ${AssetContract.BUILD} starting`);

module.exports.AssetContract = AssetContract;
module.exports.contracts = [AssetContract];
