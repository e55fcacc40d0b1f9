import { keys } from './app.js';
import { registerSecret } from './leak-detector.js';

/** Every key the suite gives a provider, for the leak scan. */
export const virtualKeySecrets = {
  openaiProd: 'sk-virtual-openai-prod-0123456789',
  anthropicProd: 'sk-ant-virtual-prod-0123456789',
  azureProd: 'azure-virtual-prod-0123456789',
} as const;

for (const secret of [...Object.values(keys), ...Object.values(virtualKeySecrets)])
  registerSecret(secret);
