import { App } from 'aws-cdk-lib';
import { loadSluiceConfig } from './config/load.js';
import { buildSluiceApp } from './stacks/sluice-app.js';

const app = new App();
buildSluiceApp(app, loadSluiceConfig(app.node));
app.synth();
