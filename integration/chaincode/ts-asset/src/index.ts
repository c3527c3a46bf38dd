/*
 * Copyright fabric-peer-k8s authors. All Rights Reserved.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

import { AssetContract, BUILD } from './assetContract';

console.log(`ts-asset chaincode ${BUILD} starting`);

export { AssetContract } from './assetContract';

export const contracts: any[] = [AssetContract];
