/** Entry point of the built client: defines <seqsal-app> and its parts. */
import './app.js';
